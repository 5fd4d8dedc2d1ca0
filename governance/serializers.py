from rest_framework import serializers

from alerts.models import Alert
from connectors.models import Connector
from governance.actions.registry import all_actions
from governance.models import GovernanceRun


class GovernanceRunSerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)
    connector_id = serializers.IntegerField(read_only=True)
    policy = serializers.SlugRelatedField(slug_field="name", read_only=True)
    triggered_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    reverted_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    alert_id = serializers.IntegerField(read_only=True)
    reverting = serializers.BooleanField(read_only=True)

    class Meta:
        model = GovernanceRun
        fields = [
            "id",
            "action",
            "target_type",
            "target",
            "connector",
            "connector_id",
            "parameters",
            "alert_id",
            "policy",
            "triggered_by",
            "status",
            "reverting",
            "attempts",
            "request_id",
            "error",
            "summary",
            "created_at",
            "started_at",
            "finished_at",
            "reverted_at",
            "reverted_by",
        ]
        read_only_fields = fields


class RunCreateSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=[])
    connector = serializers.PrimaryKeyRelatedField(queryset=Connector.objects.all())
    target = serializers.CharField(
        max_length=512, help_text="Bucket name, or the IAM user's ARN or user name."
    )
    parameters = serializers.DictField(required=False, default=dict, help_text='e.g. {"grantee": "..."}')
    alert = serializers.PrimaryKeyRelatedField(queryset=Alert.objects.all(), required=False, allow_null=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["action"].choices = [(a.key, a.label) for a in all_actions()]
