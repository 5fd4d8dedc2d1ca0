from django.urls import path

from defender.views import EmptyStatePage

app_name = "governance"

urlpatterns = [
    path(
        "",
        EmptyStatePage.as_view(
            title="Governance log",
            section="Cloud apps",
            icon="history",
            empty_title="No governance actions yet",
            empty_text="Every governance action, such as making an S3 bucket private or suspending a "
            "user, will be recorded here with who or which policy triggered it and its outcome.",
        ),
        name="log",
    ),
]
