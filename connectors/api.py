import django_filters
from django.conf import settings
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from connectors import services
from connectors.filters import ActivityFilter
from connectors.models import Activity, Bucket, Connector
from connectors.serializers import (
    ActivityDetailSerializer,
    ActivitySerializer,
    BucketSerializer,
    ConnectorSerializer,
)
from connectors.services import ConnectorSettings, ConnectorValidationError
from defender.api_contract import IdFilter
from defender.roles import Perm


class ConnectorViewSet(viewsets.ModelViewSet):
    """Connected AWS accounts. Creating or changing one validates it against AWS first."""

    queryset = Connector.objects.order_by("name", "pk")
    serializer_class = ConnectorSerializer
    write_perm = Perm.ADMINISTER
    filterset_fields = ["status", "auth_method"]

    def _settings(self, data: dict, instance: Connector | None) -> ConnectorSettings:
        def pick(key, default=""):
            return data.get(key, getattr(instance, key, default) if instance else default)

        return ConnectorSettings(
            name=pick("name"),
            auth_method=pick("auth_method", Connector.AuthMethod.ACCESS_KEYS),
            access_key_id=pick("access_key_id"),
            secret_access_key=data.get("secret_access_key", ""),
            role_arn=pick("role_arn"),
            external_id=pick("external_id"),
            regions=tuple(pick("regions", [])),
            endpoint_url=pick("endpoint_url") if settings.AWS_ADVANCED_MODE else "",
            history_days=pick("history_days", Connector.HistoryDays.WEEK),
            ingest_mode=pick("ingest_mode", Connector.IngestMode.LOOKUP_EVENTS),
            trail_bucket=pick("trail_bucket"),
            trail_prefix=pick("trail_prefix"),
        )

    def _save(self, request, instance: Connector | None, partial: bool):
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        try:
            connector = services.connector_save(
                config=self._settings(serializer.validated_data, instance),
                by=request.user,
                connector=instance,
            )
        except ConnectorValidationError as error:
            return Response(
                {"detail": error.report.summary(), "validation_report": error.report.as_list()},
                status=status.HTTP_400_BAD_REQUEST,
            )
        code = status.HTTP_201_CREATED if instance is None else status.HTTP_200_OK
        return Response(self.get_serializer(connector).data, status=code)

    def create(self, request, *args, **kwargs):
        return self._save(request, None, partial=False)

    def update(self, request, *args, **kwargs):
        return self._save(request, self.get_object(), partial=kwargs.get("partial", False))

    def perform_destroy(self, instance: Connector) -> None:
        services.connector_delete(connector=instance, by=self.request.user)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        connector = services.connector_set_enabled(
            connector=self.get_object(), enabled=False, by=request.user
        )
        return Response(self.get_serializer(connector).data)

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        connector = services.connector_set_enabled(connector=self.get_object(), enabled=True, by=request.user)
        return Response(self.get_serializer(connector).data)


class ActivityCursorPagination(CursorPagination):
    ordering = ("-event_time", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def decode_cursor(self, request):
        # A cursor the client mangled is a bad parameter (400), not a missing page (DRF's 404).
        try:
            return super().decode_cursor(request)
        except NotFound as error:
            raise ValidationError({"cursor": [str(error.detail)]}) from error


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("policy", int, description="Activities linked to an alert of this policy (id).")
        ]
    )
)
class ActivityViewSet(viewsets.ReadOnlyModelViewSet):
    """CloudTrail activity, newest first, with the activity log's filters and cursor pagination."""

    queryset = Activity.objects.select_related("connector")
    filterset_class = ActivityFilter
    pagination_class = ActivityCursorPagination

    def get_serializer_class(self):
        return ActivityDetailSerializer if self.action == "retrieve" else ActivitySerializer


class BucketFilter(django_filters.FilterSet):
    """The Files page's filters: app (connector id), access level, region, and a search of name and owner."""

    connector = IdFilter(field_name="connector_id")
    access = django_filters.ChoiceFilter(choices=Bucket.Access.choices)
    region = django_filters.CharFilter()
    search = django_filters.CharFilter(method="filter_search", label="Bucket name or owner contains")

    class Meta:
        model = Bucket
        fields = ["connector", "access", "region", "search"]

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(owner__icontains=value))


class BucketViewSet(viewsets.ReadOnlyModelViewSet):
    """S3 buckets of the connected accounts, from the hourly inventory scan (read only)."""

    queryset = Bucket.objects.select_related("connector").order_by("name", "pk")
    serializer_class = BucketSerializer
    filterset_class = BucketFilter
