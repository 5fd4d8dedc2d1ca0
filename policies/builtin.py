"""The policies every installation starts with: one per built-in template (PRODUCT.md 6.1-6.3).

They are created ENABLED by the data migration ``0002_builtin_policies`` (once, on the first migrate:
a policy an administrator deletes stays deleted), so that a fresh installation alerts from its first
poll and the demo shows them firing. Anomaly policies whose detector is not registered yet exist but
raise nothing; the file policy waits for the bucket inventory.
"""

from __future__ import annotations

from django.utils import timezone

from policies.templates.registry import all_templates


def install_builtin_policies(policy_model, *, enabled: bool = True) -> int:
    """Create the policy of every template that has none (matched by template key); returns how many
    were created. ``policy_model`` may be the migration's historical model."""
    existing = set(policy_model.objects.exclude(template_key="").values_list("template_key", flat=True))
    taken = set(policy_model.objects.values_list("name", flat=True))
    now = timezone.now()
    created = 0
    for template in all_templates():
        if template.key in existing:
            continue
        fields = template.policy_fields()
        name = fields["name"]
        if name in taken:
            name = f"{name} (built-in)"
        fields["name"] = name
        policy_model.objects.create(**fields, enabled=enabled, active_since=now)
        taken.add(name)
        created += 1
    return created
