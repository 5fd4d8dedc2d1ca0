from django.apps import AppConfig


class LocalAwsConfig(AppConfig):
    """The local AWS emulator and scenario generator used by tests and the demo."""

    name = "localaws"
    verbose_name = "Local AWS emulator"
