from rest_framework import serializers

from connectors.models import Activity, Bucket, Connector


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


class BucketGrantSerializer(serializers.Serializer):
    grantee = serializers.CharField()
    grantee_type = serializers.CharField()
    id = serializers.CharField(allow_blank=True)
    uri = serializers.CharField(allow_blank=True)
    permission = serializers.CharField()
    public = serializers.BooleanField(help_text="To AllUsers or AuthenticatedUsers, not ignored.")
    ignored = serializers.BooleanField(help_text="Public, but ignored by the public access block.")


class BucketSerializer(serializers.ModelSerializer):
    """An S3 bucket from the inventory scan, with who can reach it and what could not be read."""

    connector_name = serializers.CharField(source="connector.name", read_only=True)
    account_id = serializers.CharField(source="connector.account_id", read_only=True)
    grants = BucketGrantSerializer(many=True, read_only=True)
    public_access_block = serializers.DictField(
        child=serializers.BooleanField(), allow_null=True, read_only=True
    )
    scan_errors = serializers.DictField(child=serializers.CharField(), read_only=True)
    policy_makes_public = serializers.BooleanField(read_only=True)

    class Meta:
        model = Bucket
        fields = [
            "id",
            "name",
            "connector",
            "connector_name",
            "account_id",
            "region",
            "owner",
            "owner_id",
            "created",
            "access",
            "grants",
            "policy_public",
            "policy_makes_public",
            "public_access_block",
            "scan_errors",
            "public_since",
            "last_scanned",
        ]
        read_only_fields = fields
