from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "AWS connectors and activity"

    def ready(self) -> None:
        from connectors import lookups  # noqa: F401  (registers ip_address__in_network)
