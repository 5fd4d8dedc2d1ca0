from django.db import models


class Console(models.Model):
    """Holds the console's permissions; roles (auth groups) are made of these.

    No table: the model exists so the permissions have a content type to belong to.
    """

    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_console", "See every page and record, change nothing"),
            ("operate", "Triage alerts, run governance actions, edit policies"),
            ("administer", "Manage connected apps, IP ranges, identity provider, users and roles"),
        ]

    def __str__(self) -> str:
        return "Console permissions"
