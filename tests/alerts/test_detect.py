"""Detection over stored activity, as the worker runs it: findings become alerts, once."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from alerts import services
from alerts.models import Alert
from alerts.tasks import detect_activities_task
from connectors.ingestion.store import DETECT_TASK
from connectors.models import Connector
from policies.engine.detectors.registry import Detector, get_detector, register_detector, unregister_detector
from policies.models import DetectorState, Policy
from policies.services import policies_install_builtin, policy_save
from tests.policies.activities import T0, arrived, call, console_login, minutes, store

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(db):
    return Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )


@pytest.fixture
def only(db):
    """only(*template_keys): the built-in policies, just these enabled, saved before any activity."""

    def enable(*keys: str) -> list[Policy]:
        policies_install_builtin()
        Policy.objects.update(enabled=False)
        Policy.objects.filter(template_key__in=keys).update(
            enabled=True, active_since=timezone.now() - timedelta(minutes=1)
        )
        return list(Policy.objects.filter(template_key__in=keys))

    return enable


@pytest.fixture
def brute_force(db):
    """A custom repeated-activity policy: 5 failed sign-ins of one principal within 10 minutes."""
    Policy.objects.update(enabled=False)
    policy = policy_save(
        policy=None,
        data={
            "name": "Brute force",
            "severity": "high",
            "filters": [{"field": "console_login", "operator": "equals", "values": ["Failure"]}],
            "match_mode": "repeated",
            "repeat_count": 5,
            "repeat_minutes": 10,
            "repeat_group_by": "principal",
        },
    )
    Policy.objects.filter(pk=policy.pk).update(active_since=timezone.now() - timedelta(minutes=1))
    return policy


def logins(offsets, user="dave"):
    return [console_login(at=T0 + minutes(m), user=user) for m in offsets]


def test_the_task_is_registered_under_the_name_ingestion_sends_and_routed_to_detect():
    assert DETECT_TASK == "policies.detect_activities"
    assert current_app.tasks[DETECT_TASK].run is detect_activities_task.run
    assert current_app.amqp.router.route({}, DETECT_TASK)["queue"].name == "detect"


def test_a_failed_stoplogging_raises_one_high_alert_that_says_failed(connector, only):
    (policy,) = only("aws_cloudtrail_config_changes")
    ids = store(connector, [call("StopLogging", "cloudtrail.amazonaws.com", error="AccessDenied")])
    detect_activities_task.apply(args=[ids])
    alert = Alert.objects.get()
    assert alert.title == "CloudTrail configuration changes: StopLogging by alice (failed)"
    assert "failed with AccessDenied" in alert.description
    assert alert.severity == "high"
    assert alert.policy == policy
    assert alert.connector == connector
    assert alert.status == Alert.Status.OPEN
    assert alert.principal == "arn:aws:iam::123456789012:user/alice"
    assert alert.evidence["error_code"] == "AccessDenied"
    assert alert.mitre_tactic == "Defense Evasion"
    assert list(alert.activities.values_list("pk", flat=True)) == ids
    assert alert.first_activity_at == alert.last_activity_at == T0


def test_detection_twice_raises_the_same_alerts(connector, only):
    only("aws_iam_policy_changes", "aws_s3_config_changes")
    ids = store(
        connector,
        [
            call("AttachUserPolicy", "iam.amazonaws.com"),
            call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl"),
            call("CreatePolicy", "organizations.amazonaws.com"),
            call("ListBuckets", "s3.amazonaws.com", read_only=True),
        ],
    )
    first = services.detect_activities(activity_ids=ids)
    second = services.detect_activities(activity_ids=ids)
    assert len(first) == 2
    assert [a.pk for a in second] == [a.pk for a in first]
    assert Alert.objects.count() == 2
    assert sorted(Alert.objects.values_list("activity_count", flat=True)) == [1, 1]


def test_disabled_policies_and_policies_without_alerts_raise_nothing(connector, only):
    (policy,) = only("aws_cloudtrail_config_changes")
    ids = store(connector, [call("StopLogging", "cloudtrail.amazonaws.com")])
    Policy.objects.filter(pk=policy.pk).update(create_alert=False)
    assert services.detect_activities(activity_ids=ids) == []
    Policy.objects.filter(pk=policy.pk).update(create_alert=True, enabled=False)
    assert services.detect_activities(activity_ids=ids) == []
    assert not Alert.objects.exists()


def test_repeated_windows_across_batches_extend_one_alert(connector, brute_force):
    events = logins([0, 1, 2, 3, 4, 5, 6])
    batch_one = store(connector, events[:3])
    assert services.detect_activities(activity_ids=batch_one) == []
    batch_two = store(connector, events[3:5])
    (alert,) = services.detect_activities(activity_ids=batch_two)
    assert alert.activity_count == 5
    assert alert.title == "Brute force: 5 activities by dave within 4 minutes"
    assert alert.group_key == "principal:arn:aws:iam::123456789012:user/dave"
    assert alert.severity == "high"

    batch_three = store(connector, events[5:])
    (continued,) = services.detect_activities(activity_ids=batch_three)
    assert continued.pk == alert.pk
    assert services.detect_activities(activity_ids=batch_two)[0].pk == alert.pk  # a re-run
    alert.refresh_from_db()
    assert Alert.objects.count() == 1
    assert alert.activity_count == 7 and alert.activities.count() == 7
    assert alert.last_activity_at == T0 + minutes(6)
    assert alert.title == "Brute force: 7 activities by dave within 6 minutes"


def test_a_late_event_completes_a_stored_window(connector, brute_force):
    on_time = store(connector, logins([0, 2, 4, 6]))
    assert services.detect_activities(activity_ids=on_time) == []
    late = store(connector, logins([1]))
    (alert,) = services.detect_activities(activity_ids=late)
    assert alert.activity_count == 5
    assert alert.first_activity_at == T0 and alert.last_activity_at == T0 + minutes(6)


def test_windows_are_per_principal_and_a_new_burst_is_a_new_alert(connector, brute_force):
    ids = store(connector, logins([0, 1, 2], user="dave") + logins([0, 1, 2], user="erin"))
    assert services.detect_activities(activity_ids=ids) == []
    (first,) = services.detect_activities(activity_ids=store(connector, logins([3, 4], user="dave")))
    assert first.principal_name == "dave" and first.activity_count == 5
    (second,) = services.detect_activities(activity_ids=store(connector, logins([120, 121, 122, 123, 124])))
    assert second.pk != first.pk
    assert second.first_activity_at == T0 + minutes(120)
    assert Alert.objects.count() == 2


def test_a_resolved_alert_is_not_extended(connector, brute_force):
    (alert,) = services.detect_activities(activity_ids=store(connector, logins([0, 1, 2, 3, 4])))
    Alert.objects.filter(pk=alert.pk).update(status=Alert.Status.RESOLVED)
    after = store(connector, logins([5, 6]))
    (new,) = services.detect_activities(activity_ids=after)
    assert new.pk != alert.pk and new.status == Alert.Status.OPEN
    assert services.detect_activities(activity_ids=after)[0].pk == new.pk
    assert Alert.objects.get(pk=alert.pk).activity_count == 5
    assert Alert.objects.count() == 2


def test_daily_alert_limit_drops_and_counts_findings(connector, only):
    (policy,) = only("aws_cloudtrail_config_changes")
    Policy.objects.filter(pk=policy.pk).update(daily_alert_limit=2)
    events = [call("StopLogging", "cloudtrail.amazonaws.com", at=T0 + minutes(i)) for i in range(5)]
    raised = services.detect_activities(activity_ids=store(connector, events))
    assert len(raised) == 2 and Alert.objects.count() == 2
    policy.refresh_from_db()
    assert policy.suppressed_on_day(timezone.localdate()) == 3

    # Only alerts created today count: yesterday's do not hold today's back.
    Alert.objects.update(created_at=timezone.now() - timedelta(days=1))
    more = [call("StopLogging", "cloudtrail.amazonaws.com", at=T0 + minutes(10 + i)) for i in range(3)]
    assert len(services.detect_activities(activity_ids=store(connector, more))) == 2


def test_scope_exclude_wins(connector, only):
    (policy,) = only("aws_console_failed_logins")
    policy_save(policy=policy, data={"scope_include": ["dave", "erin"], "scope_exclude": ["dave"]})
    ids = store(connector, logins([0], user="dave") + logins([1], user="erin"))
    assert [a.principal_name for a in services.detect_activities(activity_ids=ids)] == ["erin"]


def test_only_activities_that_arrive_after_the_policy_is_saved_raise_alerts(connector, only):
    (policy,) = only("aws_console_failed_logins")
    before = store(connector, logins([0], user="dave"))
    arrived(before, timezone.now() - timedelta(minutes=5))
    policy_save(policy=policy, data={"filters": [*policy.filters, _region_row()]})
    policy.refresh_from_db()
    after = store(connector, logins([1], user="erin"))
    raised = services.detect_activities(activity_ids=before + after)
    assert [a.principal_name for a in raised] == ["erin"]
    assert policy.active_since > timezone.now() - timedelta(minutes=1)


def _region_row():
    return {"field": "region", "operator": "is_set", "values": []}


@pytest.fixture
def launch_detector():
    real = get_detector("anomaly_mass_vm_creation")  # the real detector steps aside for the test's
    unregister_detector("anomaly_mass_vm_creation")

    @register_detector
    class Launches(Detector):
        key = "anomaly_mass_vm_creation"
        label = "Multiple VM creation activities"

        def observe(self, activities, state):
            state["launches"] = state.get("launches", 0) + len(activities)
            if state["launches"] < 3:
                return []
            return [
                self.finding(
                    activities=activities, title="Many launches", group_key=activities[0]["principal"]
                )
            ]

    yield Launches
    unregister_detector(Launches.key)
    if real is not None:
        register_detector(real)


def test_registered_detectors_keep_their_state_and_suppress_into_one_open_alert(
    connector, only, launch_detector
):
    (policy,) = only("anomaly_mass_vm_creation")
    launch = "RunInstances", "ec2.amazonaws.com"
    services.detect_activities(
        activity_ids=store(connector, [call(*launch), call(*launch, at=T0 + minutes(1))])
    )
    assert DetectorState.objects.get(policy=policy).state == {"launches": 2}
    (alert,) = services.detect_activities(activity_ids=store(connector, [call(*launch, at=T0 + minutes(2))]))
    (same,) = services.detect_activities(activity_ids=store(connector, [call(*launch, at=T0 + minutes(50))]))
    assert same.pk == alert.pk and Alert.objects.get().activity_count == 2
    assert alert.type == "anomaly"
