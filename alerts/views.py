from django.core.paginator import Paginator
from django.shortcuts import render

from alerts.models import Alert
from alerts.selectors import alert_queue, open_alerts_by_severity
from connectors.models import Connector


def alert_list(request):
    queryset = alert_queue(
        status=request.GET.get("status", ""),
        severity=request.GET.get("severity", ""),
        policy_id=request.GET.get("policy", ""),
        sort=request.GET.get("sort", "-created_at"),
    )
    page = Paginator(queryset, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/alert_list.html",
        {
            "title": "Alerts",
            "section": "Incidents & alerts",
            "page": page,
            "default_sort": "-created_at",
            "by_severity": open_alerts_by_severity(),
            "statuses": Alert.Status.choices,
            "any_alert": Alert.objects.exists(),
        },
    )


def dashboard(request):
    """Home: open alerts by severity, the newest open alerts and the health of each connected account."""
    return render(
        request,
        "alerts/dashboard.html",
        {
            "title": "Home",
            "by_severity": open_alerts_by_severity(),
            "recent": alert_queue()[:8],
            "connectors": Connector.objects.order_by("name"),
        },
    )
