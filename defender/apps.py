from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DefenderConfig(AppConfig):
    name = "defender"
    verbose_name = "Defender console"

    def ready(self) -> None:
        from defender.roles import roles_sync

        post_migrate.connect(roles_sync, sender=self)
