from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DefenderConfig(AppConfig):
    name = "defender"
    verbose_name = "Defender console"

    def ready(self) -> None:
        from django.contrib.auth import signals as auth_signals

        from defender import audit
        from defender.roles import roles_sync

        post_migrate.connect(roles_sync, sender=self)
        auth_signals.user_logged_in.connect(audit.on_user_logged_in, dispatch_uid="audit_sign_in")
        auth_signals.user_logged_out.connect(audit.on_user_logged_out, dispatch_uid="audit_sign_out")
        auth_signals.user_login_failed.connect(
            audit.on_user_login_failed, dispatch_uid="audit_sign_in_failed"
        )
