"""/api/v1/ipranges/: IP address ranges, validated by the same service rules as the console."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import filters, serializers, status, viewsets
from rest_framework.response import Response

from defender.ipintel import services
from defender.models import IpRange
from defender.roles import Perm


class IpRangeSerializer(serializers.ModelSerializer):
    cidrs = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=256), required=False)
    allow_overlap = serializers.BooleanField(
        write_only=True, required=False, default=False, help_text="Accept overlaps with other ranges."
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    modified_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = IpRange
        fields = [
            "id",
            "name",
            "cidrs",
            "category",
            "tags",
            "country",
            "city",
            "latitude",
            "longitude",
            "isp",
            "allow_overlap",
            "created_at",
            "created_by",
            "modified_at",
            "modified_by",
        ]
        read_only_fields = ["created_at", "modified_at"]
        # Uniqueness and the rest are checked by the service, with the console's messages.
        extra_kwargs = {"name": {"validators": []}}


# Field -> value when neither the request nor the stored range has one.
SERVICE_DEFAULTS = {
    "name": "",
    "cidrs": [],
    "category": "",
    "tags": [],
    "country": "",
    "city": "",
    "latitude": None,
    "longitude": None,
    "isp": "",
}


class IpRangeViewSet(viewsets.ModelViewSet):
    """Named IP address ranges. Reading needs any role; writing needs Global administrator. Networks
    are normalized; invalid networks, host bits and overlaps with other ranges are refused with one
    message each (send ``allow_overlap: true`` to accept an overlap: the most specific range wins)."""

    queryset = IpRange.objects.select_related("created_by", "modified_by").order_by("name", "pk")
    serializer_class = IpRangeSerializer
    write_perm = Perm.ADMINISTER
    filterset_fields = ["category"]
    filter_backends = [*viewsets.ModelViewSet.filter_backends, filters.SearchFilter, filters.OrderingFilter]
    search_fields = ["name"]
    ordering_fields = ["name", "category", "modified_at"]

    def _save(self, request, instance: IpRange | None, partial: bool) -> Response:
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        values = {
            key: data[key] if key in data else getattr(instance, key, default)
            for key, default in SERVICE_DEFAULTS.items()
        }
        try:
            saved = services.iprange_save(
                iprange=instance, allow_overlap=data.get("allow_overlap", False), by=request.user, **values
            )
        except DjangoValidationError as error:
            detail = error.message_dict if hasattr(error, "error_dict") else {"detail": error.messages}
            return Response(detail, status=status.HTTP_400_BAD_REQUEST)
        code = status.HTTP_201_CREATED if instance is None else status.HTTP_200_OK
        return Response(self.get_serializer(saved).data, status=code)

    def create(self, request, *args, **kwargs):
        return self._save(request, None, partial=False)

    def update(self, request, *args, **kwargs):
        return self._save(request, self.get_object(), partial=kwargs.get("partial", False))

    def perform_destroy(self, instance: IpRange) -> None:
        services.iprange_delete(iprange=instance, by=self.request.user)
