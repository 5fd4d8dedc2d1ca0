from rest_framework import serializers

from connectors.models import Activity, Connector


class ConnectorSerializer(serializers.ModelSerializer):
    """A connector as the API shows it: the secret access key can be written, never read."""

    secret_access_key = serializers.CharField(
        write_only=True, required=False, allow_blank=False, style={"input_type": "password"}
    )
    regions = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        model = Connector
        fields = [
            "id",
            "name",
            "account_id",
            "caller_arn",
            "auth_method",
            "access_key_id",
            "secret_access_key",
            "role_arn",
            "external_id",
            "regions",
            "endpoint_url",
            "history_days",
            "ingest_mode",
            "trail_bucket",
            "trail_prefix",
            "status",
            "status_reason",
            "governance_enabled",
            "governance_reason",
            "logs_all_regions",
            "validation_report",
            "connected_at",
            "last_health_check",
            "last_activity_at",
            "events_ingested",
            "created_at",
            "modified_at",
        ]
        read_only_fields = [
            "account_id",
            "caller_arn",
            "status",
            "status_reason",
            "governance_enabled",
            "governance_reason",
            "logs_all_regions",
            "validation_report",
            "connected_at",
            "last_health_check",
            "last_activity_at",
            "events_ingested",
            "created_at",
            "modified_at",
        ]

    def validate(self, attrs):
        method = attrs.get(
            "auth_method", getattr(self.instance, "auth_method", Connector.AuthMethod.ACCESS_KEYS)
        )
        if method == Connector.AuthMethod.ACCESS_KEYS:
            if not attrs.get("access_key_id", getattr(self.instance, "access_key_id", "")):
                raise serializers.ValidationError(
                    {"access_key_id": "Required for access-key authentication."}
                )
            if "secret_access_key" not in attrs:
                raise serializers.ValidationError(
                    {"secret_access_key": "Send the secret access key with every change of settings."}
                )
        elif not attrs.get("role_arn", getattr(self.instance, "role_arn", "")):
            raise serializers.ValidationError({"role_arn": "Required for role authentication."})
        return attrs


class ActivitySerializer(serializers.ModelSerializer):
    connector = serializers.SlugRelatedField(slug_field="name", read_only=True)

    class Meta:
        model = Activity
        exclude = ["raw"]


class ActivityDetailSerializer(ActivitySerializer):
    class Meta(ActivitySerializer.Meta):
        exclude = []
