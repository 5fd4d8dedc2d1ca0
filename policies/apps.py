from django.apps import AppConfig


class PoliciesConfig(AppConfig):
    name = "policies"
    verbose_name = "Policies and detection"

    def ready(self) -> None:
        from policies.engine.detectors import registry as detectors
        from policies.templates import registry as templates

        templates.autodiscover()
        detectors.autodiscover()
