from django.apps import AppConfig


class SiemConfig(AppConfig):
    name = "siem"
    verbose_name = "SIEM export"
