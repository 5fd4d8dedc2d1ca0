from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        # Importing the action modules registers their actions.
        from governance.actions import s3, users  # noqa: F401
