from django.urls import path

from defender.views import EmptyStatePage

app_name = "alerts"

urlpatterns = [
    path(
        "",
        EmptyStatePage.as_view(
            title="Alerts",
            section="Incidents & alerts",
            icon="alert_urgent",
            empty_title="No alerts",
            empty_text="Alerts raised by policies and anomaly detectors will be listed here by severity, "
            "ready to triage: assign, investigate the related activities, and resolve.",
        ),
        name="list",
    ),
]
