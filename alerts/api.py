"""/api/v1/alerts/: the queue with its filters, triage through the same services as the pages."""

import django_filters
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from alerts import services
from alerts.models import Alert
from defender.roles import Perm


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


class AlertFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=Alert.Status.choices)
    severity = django_filters.MultipleChoiceFilter(choices=Alert.severity.field.choices)
    policy = django_filters.NumberFilter(field_name="policy_id")
    principal = django_filters.CharFilter(field_name="principal")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Alert
        fields: list[str] = []


class AlertViewSet(viewsets.ReadOnlyModelViewSet):
    """Alerts, newest first. PATCH changes status, assignee or, with a comment, resolves."""

    queryset = Alert.objects.select_related("policy", "connector", "assigned_to").order_by(
        "-created_at", "-pk"
    )
    serializer_class = AlertSerializer
    filterset_class = AlertFilter
    write_perm = Perm.OPERATE

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

    @action(detail=False, methods=["post"], url_path="bulk-resolve")
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
