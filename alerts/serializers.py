"""Alert representations for /api/v1/alerts/: what an alert looks like and what triage may change."""

from rest_framework import serializers

from alerts.models import Alert


class AlertSerializer(serializers.ModelSerializer):
    policy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)
    assigned_to = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        fields = [
            "id",
            "title",
            "description",
            "severity",
            "status",
            "classification",
            "resolution_comment",
            "policy",
            "type",
            "connector",
            "principal",
            "principal_name",
            "ips",
            "countries",
            "mitre_tactic",
            "evidence",
            "activity_count",
            "first_activity_at",
            "last_activity_at",
            "created_at",
            "assigned_to",
        ]
        read_only_fields = fields


class TriageSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Alert.Status.choices, required=False)
    assigned_to = serializers.CharField(
        required=False, allow_blank=True, help_text="A user name; empty unassigns."
    )
    classification = serializers.ChoiceField(choices=Alert.Classification.choices, required=False)
    comment = serializers.CharField(required=False, allow_blank=True)


class BulkResolveSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(), min_length=1, max_length=1000)
    classification = serializers.ChoiceField(choices=Alert.Classification.choices)
    comment = serializers.CharField()
