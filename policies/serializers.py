from django.utils import timezone
from rest_framework import serializers

from policies.engine import PolicySpec
from policies.engine.filters import FilterError, normalize_filters
from policies.models import MAX_REPEAT_COUNT, MAX_REPEAT_MINUTES, Policy, PolicyChange
from policies.templates.registry import get_template


def _scope_entry() -> serializers.CharField:
    return serializers.CharField(max_length=600, trim_whitespace=True)


def _validate_filters(value):
    try:
        return normalize_filters(value)
    except FilterError as error:
        raise serializers.ValidationError(error.described) from None


class PolicySerializer(serializers.ModelSerializer):
    """A policy as the API shows and takes it. Creating with only a ``template_key`` (and a name when
    the template's is taken) starts from the template."""

    filters = serializers.JSONField(required=False, validators=[_validate_filters])
    scope_include = serializers.ListField(child=_scope_entry(), required=False, max_length=1000)
    scope_exclude = serializers.ListField(child=_scope_entry(), required=False, max_length=1000)
    email_recipients = serializers.ListField(child=serializers.EmailField(), required=False, max_length=100)
    governance_actions = serializers.ListField(
        child=serializers.RegexField(r"^[a-z0-9_]{1,64}$"), required=False, max_length=20
    )
    settings = serializers.DictField(required=False)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    modified_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    suppressed_today = serializers.SerializerMethodField()

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "description",
            "type",
            "template_key",
            "enabled",
            "severity",
            "category",
            "mitre_tactic",
            "mitre_technique",
            "scope_include",
            "scope_exclude",
            "filters",
            "match_mode",
            "repeat_count",
            "repeat_minutes",
            "repeat_group_by",
            "settings",
            "create_alert",
            "daily_alert_limit",
            "email_recipients",
            "webhook_url",
            "governance_actions",
            "governance_automatic",
            "active_since",
            "suppressed_today",
            "created_at",
            "created_by",
            "modified_at",
            "modified_by",
        ]
        read_only_fields = ["active_since", "created_at", "modified_at"]
        extra_kwargs = {"name": {"required": False}}

    def get_suppressed_today(self, policy: Policy) -> int:
        return policy.suppressed_on_day(timezone.localdate())

    def validate_template_key(self, value: str) -> str:
        if value and get_template(value) is None:
            raise serializers.ValidationError(f"Unknown template '{value}'.")
        return value

    def validate(self, attrs):
        if self.instance is None and not attrs.get("name") and not attrs.get("template_key"):
            raise serializers.ValidationError({"name": "A policy needs a name."})

        def pick(name, default):
            return attrs.get(name, getattr(self.instance, name, default))

        if (
            pick("match_mode", Policy.MatchMode.SINGLE) == Policy.MatchMode.REPEATED
            and pick("repeat_count", 5) < 2
        ):
            raise serializers.ValidationError(
                {"repeat_count": "Repeated activity needs at least 2 activities."}
            )
        return attrs


class PolicyChangeSerializer(serializers.ModelSerializer):
    changed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = PolicyChange
        fields = ["id", "action", "changed_by", "changed_at", "changes"]


class PolicyPreviewSerializer(serializers.Serializer):
    """A draft activity policy and the period to run it over."""

    name = serializers.CharField(required=False, default="Preview", allow_blank=True)
    type = serializers.ChoiceField(choices=Policy.Type.choices, default=Policy.Type.ACTIVITY)
    filters = serializers.JSONField(required=False, default=list, validators=[_validate_filters])
    scope_include = serializers.ListField(child=_scope_entry(), required=False, default=list)
    scope_exclude = serializers.ListField(child=_scope_entry(), required=False, default=list)
    match_mode = serializers.ChoiceField(choices=Policy.MatchMode.choices, default=Policy.MatchMode.SINGLE)
    repeat_count = serializers.IntegerField(min_value=1, max_value=MAX_REPEAT_COUNT, default=5)
    repeat_minutes = serializers.IntegerField(min_value=1, max_value=MAX_REPEAT_MINUTES, default=10)
    repeat_group_by = serializers.ChoiceField(choices=Policy.GroupBy.choices, default="", allow_blank=True)
    days = serializers.ChoiceField(choices=[1, 7, 30], default=7)

    def validate_type(self, value: str) -> str:
        if value != Policy.Type.ACTIVITY:
            raise serializers.ValidationError("Preview runs activity policies only.")
        return value

    def spec(self) -> PolicySpec:
        data = self.validated_data
        return PolicySpec(
            key="preview",
            name=data["name"] or "Preview",
            filters=tuple(normalize_filters(data["filters"])),
            match_mode=data["match_mode"],
            repeat_count=data["repeat_count"],
            repeat_minutes=data["repeat_minutes"],
            repeat_group_by=data["repeat_group_by"],
            scope_include=tuple(data["scope_include"]),
            scope_exclude=tuple(data["scope_exclude"]),
        )
