from django.urls import path

from defender.views import EmptyStatePage

app_name = "policies"

urlpatterns = [
    path(
        "",
        EmptyStatePage.as_view(
            title="Policies",
            section="Cloud apps",
            icon="shield_task",
            empty_title="No policies yet",
            empty_text="Activity policies, anomaly detection policies and file policies will be listed "
            "here. Create them from the built-in AWS templates, such as CloudTrail configuration changes "
            "or Management console sign-in failures.",
        ),
        name="list",
    ),
]
