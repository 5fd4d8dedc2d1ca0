"""/api/v1/governance/: the governance log; run (POST), retry and revert through the same services as
the pages. Readers read; running needs the operate permission."""

import django_filters
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from defender.api_contract import IdFilter
from defender.roles import Perm
from governance import services
from governance.models import GovernanceRun
from governance.serializers import GovernanceRunSerializer, RunCreateSerializer


class GovernanceRunFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=GovernanceRun.Status.choices)
    action = django_filters.CharFilter(field_name="action")
    target = django_filters.CharFilter(field_name="target")
    connector = IdFilter(field_name="connector_id")
    alert = IdFilter(field_name="alert_id")
    policy = IdFilter(field_name="policy_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = GovernanceRun
        fields: list[str] = []


def _bad(error: ValidationError) -> Response:
    return Response({"detail": " ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)


class GovernanceRunViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Governance runs, newest first. POST runs an action (queued: poll the run for its status)."""

    queryset = GovernanceRun.objects.select_related(
        "connector", "policy", "triggered_by", "reverted_by"
    ).order_by("-created_at", "-pk")
    serializer_class = GovernanceRunSerializer
    filterset_class = GovernanceRunFilter
    write_perm = Perm.OPERATE

    @extend_schema(request=RunCreateSerializer, responses={201: GovernanceRunSerializer})
    def create(self, request, *args, **kwargs):
        body = RunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            run = services.run_create(
                action_key=data["action"],
                connector=data["connector"],
                target=data["target"],
                parameters=data.get("parameters") or {},
                alert=data.get("alert"),
                by=request.user,
            )
        except ValidationError as error:
            return _bad(error)
        return Response(GovernanceRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=GovernanceRunSerializer)
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        try:
            run = services.run_retry(run=self.get_object(), by=request.user)
        except ValidationError as error:
            return _bad(error)
        return Response(GovernanceRunSerializer(run).data)

    @extend_schema(request=None, responses=GovernanceRunSerializer)
    @action(detail=True, methods=["post"])
    def revert(self, request, pk=None):
        try:
            run = services.run_request_revert(run=self.get_object(), by=request.user)
        except ValidationError as error:
            return _bad(error)
        return Response(GovernanceRunSerializer(run).data)
