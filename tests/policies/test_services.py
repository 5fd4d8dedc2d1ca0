"""Built-in policies and policy_save."""

import datetime
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from policies.models import Policy
from policies.services import policies_install_builtin, policy_record_suppressed, policy_save
from policies.templates.registry import all_templates

pytestmark = pytest.mark.django_db


def test_the_migration_creates_every_builtin_policy_enabled():
    Policy.objects.all().delete()
    migration = importlib.import_module("policies.migrations.0002_builtin_policies")
    migration.create_builtin(apps, None)
    policies = {p.template_key: p for p in Policy.objects.all()}
    assert set(policies) == {t.key for t in all_templates()}
    assert len(policies) == 22
    assert all(p.enabled for p in policies.values())
    assert {p.type for p in policies.values()} == {"activity", "anomaly", "file"}
    assert policies["anomaly_impossible_travel"].settings["sensitivity"] == "medium"
    assert policies["aws_cloudtrail_config_changes"].severity == "high"
    assert policies["file_s3_bucket_public"].governance_actions == ["s3_make_private"]
    for policy in policies.values():
        policy.full_clean()


def test_installing_again_only_adds_what_is_missing():
    policies_install_builtin()
    Policy.objects.filter(template_key="aws_vpn_changes").delete()
    Policy.objects.create(name="Virtual private network changes")  # a custom policy took the name
    assert policies_install_builtin() == 1
    assert (
        Policy.objects.get(template_key="aws_vpn_changes").name
        == "Virtual private network changes (built-in)"
    )
    assert policies_install_builtin() == 0


def test_policy_save_validates():
    with pytest.raises(ValidationError) as caught:
        policy_save(policy=None, data={"name": "X", "filters": [{"field": "evnt_name"}]})
    assert caught.value.message_dict == {"filters": ["Row 1: Unknown field 'evnt_name'"]}
    with pytest.raises(ValidationError, match="cannot be set"):
        policy_save(policy=None, data={"name": "X", "suppressed_today": 3})
    with pytest.raises(ValidationError, match="at least 2"):
        policy_save(policy=None, data={"name": "X", "match_mode": "repeated", "repeat_count": 1})
    with pytest.raises(ValidationError, match="Unknown template"):
        policy_save(policy=None, data={"template_key": "aws_nope"})
    assert not Policy.objects.filter(name="X").exists()


def test_filters_are_stored_normalized():
    policy = policy_save(
        policy=None,
        data={"name": "Romania", "filters": [{"field": "country", "operator": "equals", "value": " ro "}]},
    )
    assert policy.filters == [{"field": "country", "operator": "equals", "values": ["RO"]}]


def test_suppressed_findings_are_counted_per_day():
    policy = policy_save(policy=None, data={"name": "Noisy"})
    today, tomorrow = datetime.date(2026, 11, 28), datetime.date(2026, 11, 29)
    policy_record_suppressed(policy=policy, count=2, day=today)
    policy_record_suppressed(policy=policy, count=3, day=today)
    policy.refresh_from_db()
    assert policy.suppressed_on_day(today) == 5
    policy_record_suppressed(policy=policy, count=1, day=tomorrow)
    policy.refresh_from_db()
    assert policy.suppressed_on_day(tomorrow) == 1 and policy.suppressed_on_day(today) == 0
