"""/api/v1/alerts/: the queue with its filters, triage through the same services as the pages."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts import services
from alerts.filters import AlertFilter
from alerts.models import Alert
from alerts.serializers import AlertSerializer, BulkResolveSerializer, TriageSerializer
from defender.roles import Perm


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts, newest first. PATCH changes status, assignee or, with a comment, resolves."""

    queryset = Alert.objects.select_related("policy", "connector", "assigned_to").order_by(
        "-created_at", "-pk"
    )
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    write_perm = Perm.OPERATE

    @extend_schema(request=TriageSerializer, responses=AlertSerializer)
    def partial_update(self, request, pk=None):
        alert = self.get_object()
        body = TriageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if "assigned_to" in data:
                name = data["assigned_to"]
                assignee = get_user_model().objects.filter(username=name).first() if name else None
                if name and assignee is None:
                    return Response(
                        {"assigned_to": [f"No user named {name}."]}, status=status.HTTP_400_BAD_REQUEST
                    )
                services.alert_assign(alert=alert, assignee=assignee, by=request.user)
            if data.get("status") == Alert.Status.RESOLVED or "classification" in data:
                services.alert_resolve(
                    alert=alert,
                    by=request.user,
                    classification=data.get("classification", ""),
                    comment=data.get("comment", ""),
                )
            elif "status" in data:
                services.alert_set_status(alert=alert, status=data["status"], by=request.user)
            elif data.get("comment"):
                services.alert_comment(alert=alert, by=request.user, text=data["comment"])
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
        alert.refresh_from_db()
        return Response(AlertSerializer(alert).data)

    @extend_schema(
        request=BulkResolveSerializer,
        responses=inline_serializer("BulkResolveResult", {"resolved": serializers.IntegerField()}),
    )
    @action(detail=False, methods=["post"], url_path="bulk-resolve", filter_backends=[])
    def bulk_resolve(self, request):
        body = BulkResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        alerts = list(Alert.objects.filter(pk__in=body.validated_data["ids"]))
        try:
            changed = services.alerts_resolve(
                alerts=alerts,
                by=request.user,
                classification=body.validated_data["classification"],
                comment=body.validated_data["comment"],
            )
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_400_BAD_REQUEST)
        return Response({"resolved": changed})
