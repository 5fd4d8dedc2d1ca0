"""The engine on in-memory activities: repeated windows, scope, active_since, detectors. Pure."""

import dataclasses

import pytest

from connectors.ingestion.normalize import normalize
from policies.engine import MemoryHistory, PolicySpec, compile_policy, evaluate_batch
from policies.engine.detectors.registry import (
    Detector,
    DuplicateDetector,
    get_detector,
    register_detector,
    unregister_detector,
)
from policies.templates.registry import get_template
from tests.policies.activities import T0, activity, call, console_login, minutes

FAILED_LOGINS = PolicySpec(
    key="policy:1",
    id=1,
    name="Brute force",
    severity="high",
    filters=({"field": "console_login", "operator": "equals", "values": ["Failure"]},),
    match_mode="repeated",
    repeat_count=5,
    repeat_minutes=10,
    repeat_group_by="principal",
)


def logins(offsets, *, user="dave", ip="198.51.100.201"):
    return [activity(console_login(at=T0 + minutes(m), user=user, ip=ip)) for m in offsets]


def run(spec, batch, history, **kwargs):
    return evaluate_batch([spec], batch, history=MemoryHistory(history), **kwargs)


def test_single_activity_findings_carry_what_alerts_need():
    (a,) = logins([0])
    spec = get_template("aws_console_failed_logins").spec()
    (finding,) = evaluate_batch([spec], [a])
    assert finding.policy_key == "aws_console_failed_logins"
    assert finding.activity_ids == (a["id"],)
    assert finding.event_ids == (a["event_id"],)
    assert finding.first_seen == finding.last_seen == T0
    assert finding.key == f"aws_console_failed_logins|{a['id']}"
    assert finding.evidence["succeeded"] is False
    assert finding.ips == ("198.51.100.201",)
    assert finding.as_json()["first_seen"] == "2026-11-28T10:00:00Z"


def test_repeated_window_fires_across_batch_boundaries():
    events = logins([0, 1, 2, 3, 4])
    first, second = events[:3], events[3:]
    assert run(FAILED_LOGINS, first, first) == []
    (finding,) = run(FAILED_LOGINS, second, events)
    assert finding.activity_ids == tuple(a["id"] for a in events)
    assert finding.activity_count == 5
    assert finding.group_key == "principal:arn:aws:iam::123456789012:user/dave"
    assert finding.principal == "arn:aws:iam::123456789012:user/dave"
    assert finding.title == "Brute force: 5 activities by dave within 4 minutes"
    assert finding.evidence["threshold"] == 5 and finding.evidence["failed"] == 5
    assert finding.continues_within == minutes(10)
    # The same batch again finds the same finding.
    (again,) = run(FAILED_LOGINS, second, events)
    assert again.key == finding.key


def test_a_late_event_completes_a_window():
    on_time = logins([0, 2, 4, 6])
    late = logins([1])
    assert run(FAILED_LOGINS, on_time, on_time) == []
    (finding,) = run(FAILED_LOGINS, late, on_time + late)
    assert [a for a in finding.activity_ids] == [
        on_time[0]["id"],
        late[0]["id"],
        *[a["id"] for a in on_time[1:]],
    ]


def test_activities_spread_beyond_the_window_do_not_fire():
    events = logins([0, 3, 6, 9, 12])  # at most 4 within any 10 minutes
    assert run(FAILED_LOGINS, events, events) == []
    assert len(run(dataclasses.replace(FAILED_LOGINS, repeat_minutes=12), events, events)) == 1


def test_one_finding_per_burst_and_old_bursts_are_not_reported_again():
    early = logins([0, 1, 2, 3, 4, 5, 6])  # one burst, however many windows fire
    late = logins([60, 61, 62, 63, 64])
    (finding,) = run(FAILED_LOGINS, early, early)
    assert finding.activity_count == 7
    (only_late,) = run(FAILED_LOGINS, late, early + late)
    assert only_late.first_seen == T0 + minutes(60)
    assert len(run(FAILED_LOGINS, early + late, early + late)) == 2


def test_grouping_by_principal_ip_or_nothing():
    dave = logins([0, 1, 2], user="dave", ip="198.51.100.7")
    erin = logins([1, 2, 3], user="erin", ip="198.51.100.7")
    both = dave + erin
    assert run(FAILED_LOGINS, both, both) == []
    (by_ip,) = run(dataclasses.replace(FAILED_LOGINS, repeat_group_by="ip"), both, both)
    assert by_ip.group_key == "ip:198.51.100.7"
    assert by_ip.title.startswith("Brute force: 6 activities from 198.51.100.7")
    (anyone,) = run(dataclasses.replace(FAILED_LOGINS, repeat_group_by=""), both, both)
    assert anyone.group_key == "" and anyone.activity_count == 6


def test_scope_exclude_wins_over_include():
    batch = [*logins([0], user="dave"), *logins([0], user="erin")]
    spec = get_template("aws_console_failed_logins").spec()

    def principals(**scope):
        return {f.principal_name for f in evaluate_batch([dataclasses.replace(spec, **scope)], batch)}

    assert principals() == {"dave", "erin"}
    assert principals(scope_include=("dave",)) == {"dave"}
    assert principals(scope_include=("arn:aws:iam::123456789012:user/erin",)) == {"erin"}
    assert principals(scope_include=("arn:aws:iam::123456789012:user/*",), scope_exclude=("Erin",)) == {
        "dave"
    }
    assert principals(scope_include=("dave", "erin"), scope_exclude=("dave",)) == {"erin"}
    assert principals(scope_include=("dave",), scope_exclude=("dave",)) == set()
    groups = {"arn:aws:iam::123456789012:user/erin": ["Admins"]}
    scoped = dataclasses.replace(spec, scope_exclude=("group:admins",))
    found = evaluate_batch([scoped], batch, groups_of=lambda key: groups.get(key, []))
    assert {f.principal_name for f in found} == {"dave"}


def test_only_activities_arriving_after_the_policy_was_saved_match():
    spec = dataclasses.replace(
        get_template("aws_console_failed_logins").spec(), active_since=T0 + minutes(30)
    )
    before, after = logins([0, 1])
    before["ingested_at"] = T0 + minutes(29)
    after["ingested_at"] = T0 + minutes(31)  # an old event, ingested after the save: it counts
    found = evaluate_batch([spec], [before, after])
    assert [f.activity_ids for f in found] == [(after["id"],)]


def test_repeated_windows_only_count_activities_that_arrived_after_the_save():
    events = logins([0, 1, 2, 3, 4])
    for a in events:
        a["ingested_at"] = T0 + minutes(20)
    events[0]["ingested_at"] = T0  # before the save
    spec = dataclasses.replace(FAILED_LOGINS, active_since=T0 + minutes(10))
    assert run(spec, events[1:], events) == []
    assert len(run(dataclasses.replace(spec, repeat_count=4), events[1:], events)) == 1


def test_the_same_engine_reads_model_like_objects():
    normalized = normalize(console_login())
    (finding,) = evaluate_batch([get_template("aws_console_failed_logins").spec()], [normalized])
    assert finding.event_ids == (normalized.event_id,)


def test_policies_are_indexed_by_event_and_compiled_once():
    compiled = compile_policy(get_template("aws_iam_policy_changes").spec())
    assert ("iam.amazonaws.com", "CreatePolicy") in compiled.events
    assert compile_policy(get_template("aws_risky_ip_logon").spec()).events is None
    batch = [
        activity(call("CreatePolicy", "iam.amazonaws.com")),
        activity(call("CreateUser", "iam.amazonaws.com")),
    ]
    assert len(evaluate_batch([compiled], batch)) == 1


# --------------------------------------------------------------------------------------------------
# Anomaly detectors


@pytest.fixture
def vm_creation_detector():
    real = get_detector("anomaly_mass_vm_creation")  # the real detector steps aside for the test's
    unregister_detector("anomaly_mass_vm_creation")

    @register_detector
    class Launches(Detector):
        key = "anomaly_mass_vm_creation"
        label = "Multiple VM creation activities"

        def observe(self, activities, state):
            state["seen"] = state.get("seen", 0) + len(activities)
            launches = [a for a in activities if a["event_name"] == "RunInstances"]
            if state["seen"] < self.settings["floor"] or not launches:
                return []
            return [self.finding(activities=launches, title=f"{len(launches)} launches", group_key="x")]

    yield Launches
    unregister_detector(Launches.key)
    if real is not None:
        register_detector(real)


def test_anomaly_policies_without_a_detector_and_file_policies_are_skipped():
    batch = [activity(call("RunInstances", "ec2.amazonaws.com"))]
    unregistered = dataclasses.replace(
        get_template("anomaly_terminated_user").spec(), key="anomaly_future", template_key="anomaly_future"
    )
    specs = [unregistered, get_template("file_s3_bucket_public").spec()]
    assert get_detector("anomaly_future") is None
    assert evaluate_batch(specs, batch) == []


def test_registered_detectors_observe_in_scope_activities_with_their_state(vm_creation_detector):
    spec = dataclasses.replace(
        get_template("anomaly_mass_vm_creation").spec(), settings={"sensitivity": "medium", "floor": 3}
    )
    states: dict = {}
    first = [activity(call("RunInstances", "ec2.amazonaws.com", at=T0 + minutes(i))) for i in range(2)]
    assert evaluate_batch([spec], first, states=states) == []
    assert states == {"anomaly_mass_vm_creation": {"seen": 2}}
    second = [activity(call("RunInstances", "ec2.amazonaws.com", at=T0 + minutes(5)))]
    (finding,) = evaluate_batch([spec], second, states=states)
    assert finding.policy_key == "anomaly_mass_vm_creation"
    assert finding.title == "1 launches" and finding.extend_open
    excluded = dataclasses.replace(spec, scope_exclude=("alice",))
    assert evaluate_batch([excluded], second, states={}) == []


def test_a_duplicate_detector_key_is_refused(vm_creation_detector):
    with pytest.raises(DuplicateDetector, match="anomaly_mass_vm_creation"):

        @register_detector
        class Other(Detector):
            key = "anomaly_mass_vm_creation"


def test_a_long_burst_links_the_batch_activities_and_lists_every_event():
    events = [activity(console_login(at=T0 + minutes(i / 100))) for i in range(700)]
    batch = events[-100:]
    (finding,) = run(FAILED_LOGINS, batch, events)
    assert finding.activity_count == 700 and len(finding.event_ids) == 700
    assert len(finding.activity_ids) == 500
    assert {a["id"] for a in batch} <= set(finding.activity_ids)
    assert list(finding.activity_ids) == sorted(finding.activity_ids)
