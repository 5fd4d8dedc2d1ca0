"""Create the built-in policies, enabled, on the first migrate (see policies.builtin)."""

from django.db import migrations


def create_builtin(apps, schema_editor):
    from policies.builtin import install_builtin_policies

    install_builtin_policies(apps.get_model("policies", "Policy"))


class Migration(migrations.Migration):
    dependencies = [("policies", "0001_initial")]

    operations = [migrations.RunPython(create_builtin, migrations.RunPython.noop)]
