from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from defender.roles import Role


def user_list(*, search: str = "", role: str = "", order_by: str = "username") -> QuerySet:
    queryset = get_user_model().objects.prefetch_related("groups")
    if search:
        queryset = queryset.filter(
            Q(username__icontains=search)
            | Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    if role in Role.values:
        queryset = queryset.filter(groups__name=Role(role).label)
    return queryset.order_by(order_by, "pk")
