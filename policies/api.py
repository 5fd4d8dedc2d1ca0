from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.plumbing import build_array_type, build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from defender.roles import Perm
from policies import selectors, services
from policies.engine import FIELDS, OPERATORS
from policies.models import Policy
from policies.serializers import PolicyChangeSerializer, PolicyPreviewSerializer, PolicySerializer
from policies.templates.registry import all_templates

PREVIEW_RESULT = inline_serializer(
    "PolicyPreviewResult",
    {
        "count": serializers.IntegerField(help_text="Activities the draft matches."),
        "alerts": serializers.IntegerField(help_text="Alerts it would have raised."),
        "activities": serializers.ListField(child=serializers.DictField(), help_text="The first matches."),
        "complete": serializers.BooleanField(help_text="False when the period held too much to scan."),
    },
)
FILTER_FIELDS = inline_serializer(
    "PolicyFilterFields",
    {
        "fields": inline_serializer(
            "PolicyFilterField",
            {
                "name": serializers.CharField(),
                "label": serializers.CharField(),
                "kind": serializers.CharField(),
            },
            many=True,
        ),
        "operators": inline_serializer(
            "PolicyFilterOperator",
            {"name": serializers.CharField(), "label": serializers.CharField()},
            many=True,
        ),
    },
)


def _as_drf(error: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class PolicyViewSet(viewsets.ModelViewSet):
    """Policies: readers read; operators create, change, enable/disable, delete and preview."""

    queryset = Policy.objects.select_related("created_by", "modified_by").order_by("name", "pk")
    serializer_class = PolicySerializer
    write_perm = Perm.OPERATE
    filterset_fields = ["type", "enabled", "severity", "category", "template_key"]

    def _save(self, request, instance: Policy | None, partial: bool) -> Response:
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            policy = services.policy_save(
                policy=instance, data=dict(serializer.validated_data), by=request.user
            )
        except DjangoValidationError as error:
            raise _as_drf(error) from None
        code = status.HTTP_201_CREATED if instance is None else status.HTTP_200_OK
        return Response(self.get_serializer(policy).data, status=code)

    def create(self, request, *args, **kwargs):
        return self._save(request, None, partial=False)

    def update(self, request, *args, **kwargs):
        return self._save(request, self.get_object(), partial=kwargs.get("partial", False))

    def perform_destroy(self, instance: Policy) -> None:
        services.policy_delete(policy=instance, by=self.request.user)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        policy = services.policy_set_enabled(policy=self.get_object(), enabled=True, by=request.user)
        return Response(self.get_serializer(policy).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        policy = services.policy_set_enabled(policy=self.get_object(), enabled=False, by=request.user)
        return Response(self.get_serializer(policy).data)

    @extend_schema(responses=PolicyChangeSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def changes(self, request, pk=None):
        changes = self.get_object().changes.select_related("changed_by")[:200]
        return Response(PolicyChangeSerializer(changes, many=True).data)

    @extend_schema(responses=PREVIEW_RESULT)
    @action(detail=False, methods=["post"], serializer_class=PolicyPreviewSerializer, filter_backends=[])
    def preview(self, request):
        """Run a draft (the policy body and ``days``: 1, 7 or 30) over stored activity; raises nothing."""
        draft = PolicyPreviewSerializer(data=request.data)
        draft.is_valid(raise_exception=True)
        return Response(selectors.policy_preview(spec=draft.spec(), days=draft.validated_data["days"]))

    @extend_schema(responses={200: build_array_type(build_basic_type(OpenApiTypes.OBJECT))})
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def templates(self, request):
        """The built-in templates a policy can start from, with the fields they fill in."""
        return Response([template.as_json() for template in all_templates()])

    @extend_schema(responses=FILTER_FIELDS)
    @action(
        detail=False, methods=["get"], url_path="filter-fields", pagination_class=None, filter_backends=[]
    )
    def filter_fields(self, request):
        """What the policy editor offers: fields (with their kind) and operators."""
        return Response(
            {
                "fields": [{"name": f.name, "label": f.label, "kind": f.kind.value} for f in FIELDS.values()],
                "operators": [{"name": name, "label": label} for name, label in OPERATORS.items()],
            }
        )
