"""The anomaly detectors on in-memory activities (PRODUCT.md 6.2). Pure: no database.

Each detector: it fires on the attack, stays quiet on the look-alike, learns for 7 days of event time
first, moves with the sensitivity, and keeps one episode (one alert) while the behaviour continues.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from policies.engine import evaluate_batch
from policies.engine.detectors.registry import get_detector
from policies.templates.registry import get_template
from tests.policies.activities import T0, call, console_login, minutes
from tests.policies.activities import activity as _activity


def activity(event: dict) -> dict:
    # No database ids: detectors key activities by event ID then, and the shared id counter that other
    # modules' tests rely on is left alone.
    return _activity(event, with_id=False)


WARM = T0 - timedelta(days=8)  # an activity this old ends the organization's learning period


def spec(key: str, **settings):
    template = get_template(key).spec()
    return dataclasses.replace(template, settings={**template.settings, **settings})


def warmed(key: str, *, events=(), **settings) -> tuple:
    """The policy's spec and a state that has seen 8 days of history (``events``, default one call)."""
    policy = spec(key, **settings)
    states: dict = {}
    history = list(events) or [activity(call("GetCallerIdentity", "sts.amazonaws.com", at=WARM))]
    evaluate_batch([policy], history, states=states)
    return policy, states


def run(policy, batch, states) -> list:
    return evaluate_batch([policy], batch, states=states)


def test_every_detector_is_registered_under_its_template():
    for key in (FAILED, ANONYMOUS, SUSPICIOUS, DELETION, CREATION, STORAGE, ADMIN, TRAVEL, COUNTRY, REGION):
        assert get_detector(key) is not None and get_template(key) is not None


# --------------------------------------------------------------------------------------------------
# anomaly_multiple_failed_logins

FAILED = "anomaly_multiple_failed_logins"


def failures(count: int, *, start=T0, every: float = 0.5, user="hyunwoo.lee", ip="185.220.101.9"):
    return [activity(console_login(at=start + minutes(i * every), user=user, ip=ip)) for i in range(count)]


def test_failed_logins_a_burst_alerts_with_the_count_and_the_usual_rate():
    policy, states = warmed(FAILED)
    (finding,) = run(policy, failures(14), states)
    assert finding.principal == "arn:aws:iam::123456789012:user/hyunwoo.lee"
    assert finding.group_key == "principal:arn:aws:iam::123456789012:user/hyunwoo.lee"
    assert finding.extend_open
    assert finding.activity_count == 14
    assert (
        finding.evidence["explanation"] == "Failed sign-ins of hyunwoo.lee in 10 minutes: 14, usual at most 0"
    )
    assert finding.evidence["threshold"] == 5
    assert "185.220.101.9" in finding.description


def test_failed_logins_a_few_typos_spread_out_stay_quiet():
    policy, states = warmed(FAILED)
    typos = failures(4, every=1) + failures(4, start=T0 + timedelta(minutes=30), every=2)
    assert run(policy, typos, states) == []


def test_failed_logins_learn_for_seven_days_of_event_time():
    six_days = [activity(call("ListUsers", "iam.amazonaws.com", at=T0 - timedelta(days=6)))]
    policy, states = warmed(FAILED, events=six_days)
    assert run(policy, failures(14, user="alice"), states) == []
    # A burst once the organization has 7 days of history alerts (alice's burst was learned as usual).
    assert len(run(policy, failures(14, start=T0 + timedelta(days=2)), states)) == 1
    assert run(policy, failures(14, start=T0 + timedelta(days=2), user="alice"), states) == []


def test_failed_logins_sensitivity_moves_the_count():
    four = failures(4)
    assert run(*warmed(FAILED, sensitivity="medium")[:1], four, warmed(FAILED)[1]) == []
    policy, states = warmed(FAILED, sensitivity="high")
    assert len(run(policy, four, states)) == 1
    policy, states = warmed(FAILED, sensitivity="low")
    assert run(policy, failures(9), states) == []
    assert len(run(policy, failures(10, start=T0 + timedelta(hours=2)), states)) == 1


def test_failed_logins_above_the_principals_usual_rate_only():
    """A principal whose script fails 6 times in 10 minutes every day alerts only above that."""
    history = []
    for day in range(8, 1, -1):
        history += failures(6, start=T0 - timedelta(days=day), user="legacy-app")
    policy, states = warmed(FAILED, events=history)
    assert run(policy, failures(6, user="legacy-app"), states) == []
    (finding,) = run(policy, failures(9, start=T0 + timedelta(hours=1), user="legacy-app"), states)
    assert finding.evidence["usual_max"] == 6 and finding.evidence["count"] == 9


def test_failed_logins_one_episode_while_the_behaviour_continues():
    policy, states = warmed(FAILED)
    burst = failures(30, every=0.5)
    (first,) = run(policy, burst[:10], states)
    (second,) = run(policy, burst[10:], states)  # the next batch: same episode, same alert
    assert second.key == first.key and second.group_key == first.group_key
    # Much later, a new burst is a new episode.
    (third,) = run(policy, failures(8, start=T0 + timedelta(hours=3)), states)
    assert third.key != first.key


def test_failed_logins_late_events_from_another_region_are_counted_in_event_time():
    policy, states = warmed(FAILED)
    burst = failures(6, every=1)
    assert run(policy, burst[3:], states) == []
    (finding,) = run(policy, burst[:3], states)  # arrive late
    assert finding.evidence["count"] >= 5


def test_failed_logins_against_unknown_user_names_group_by_name_and_ip():
    policy, states = warmed(FAILED)
    hidden = failures(6, user="HIDDEN_DUE_TO_SECURITY_REASONS", ip="198.51.100.7")
    (finding,) = run(policy, hidden, states)
    assert finding.group_key == "user:HIDDEN_DUE_TO_SECURITY_REASONS|ip:198.51.100.7"


def test_failed_logins_successful_sign_ins_and_scope_are_respected():
    policy, states = warmed(FAILED)
    ok = [activity(console_login(failed=False, at=T0 + minutes(i))) for i in range(10)]
    assert run(policy, ok, states) == []
    excluded = dataclasses.replace(policy, scope_exclude=("hyunwoo.lee",))
    assert run(excluded, failures(14), states) == []


# --------------------------------------------------------------------------------------------------
# anomaly_anonymous_ip, anomaly_suspicious_ip

ANONYMOUS = "anomaly_anonymous_ip"
SUSPICIOUS = "anomaly_suspicious_ip"
TOR_IP = "185.220.101.9"
BOTNET_IP = "80.94.95.115"


def from_ip(ip: str, tags=(), category: str = "", *, at=T0, user="hyunwoo.lee", name="ListBuckets", **kw):
    """An activity from ``ip`` as ingestion would have enriched it with a feed's tags."""
    a = activity(call(name, "s3.amazonaws.com", at=at, ip=ip, user=user, **kw))
    a["ip_tags"], a["ip_category"] = list(tags), category
    return a


def test_anonymous_ip_tor_exit_node_alerts_once_per_principal():
    policy, states = warmed(ANONYMOUS)
    batch = [from_ip(TOR_IP, ["Tor exit node"], at=T0 + minutes(i)) for i in range(3)]
    (finding,) = run(policy, batch, states)
    assert finding.principal.endswith("user/hyunwoo.lee") and finding.activity_count == 3
    assert "185.220.101.9 (Tor exit node)" in finding.evidence["explanation"]
    (later,) = run(policy, [from_ip("185.220.101.33", ["Tor exit node"], at=T0 + minutes(30))], states)
    assert later.key == finding.key  # the same episode: collected into the open alert


def test_anonymous_ip_ignores_untagged_and_own_ranges():
    policy, states = warmed(ANONYMOUS)
    quiet = [
        from_ip("198.51.100.20"),
        from_ip("93.211.63.5", ["Anonymizing VPN"], "vpn"),  # the corporate VPN appears in a VPN list
        from_ip("125.130.148.9", ["Anonymous proxy"], "corporate"),
        from_ip(BOTNET_IP, ["Botnet"], "risky"),
    ]
    assert run(policy, quiet, states) == []


def test_anonymous_ip_learns_for_seven_days():
    policy = spec(ANONYMOUS)
    states: dict = {}
    first = [activity(call("ListUsers", "iam.amazonaws.com", at=T0 - timedelta(days=3)))]
    assert run(policy, [*first, from_ip(TOR_IP, ["Tor exit node"])], states) == []
    assert len(run(policy, [from_ip(TOR_IP, ["Tor exit node"], at=T0 + timedelta(days=5))], states)) == 1


def _routine_vpn_history(principals: int) -> list:
    """``principals`` people using one commercial VPN address on two days each."""
    return [
        from_ip("146.70.1.1", ["Anonymizing VPN"], at=WARM + timedelta(days=day), user=f"user{n}")
        for n in range(principals)
        for day in (0, 1)
    ]


def test_anonymous_ip_an_address_many_principals_use_routinely_is_ignored_below_high():
    for sensitivity, expected in (("low", 0), ("medium", 0), ("high", 1)):
        policy, states = warmed(ANONYMOUS, events=_routine_vpn_history(5), sensitivity=sensitivity)
        batch = [from_ip("146.70.1.1", ["Anonymizing VPN"], user="newcomer")]
        assert len(run(policy, batch, states)) == expected, sensitivity
    # Three regulars are "many" at low sensitivity only.
    policy, states = warmed(ANONYMOUS, events=_routine_vpn_history(3), sensitivity="low")
    assert run(policy, [from_ip("146.70.1.1", ["Anonymizing VPN"], user="newcomer")], states) == []
    policy, states = warmed(ANONYMOUS, events=_routine_vpn_history(3))
    assert len(run(policy, [from_ip("146.70.1.1", ["Anonymizing VPN"], user="newcomer")], states)) == 1


def test_anonymous_ip_state_stays_bounded():
    policy, states = warmed(ANONYMOUS, events=_routine_vpn_history(3))
    run(policy, [from_ip("198.51.100.20", at=T0 + timedelta(days=40))], states)
    assert states[ANONYMOUS]["ips"] == {}


def test_suspicious_ip_botnet_address_alerts():
    policy, states = warmed(SUSPICIOUS)
    batch = [from_ip(BOTNET_IP, ["Botnet"], "risky", user="svc-backup", at=T0 + minutes(i)) for i in range(6)]
    (finding,) = run(policy, batch, states)
    assert finding.principal.endswith("user/svc-backup") and finding.activity_count == 6
    assert finding.evidence["ips"] == {BOTNET_IP: ["Botnet"]}


def test_suspicious_ip_quiet_on_anonymizers_and_clean_addresses_and_while_learning():
    policy, states = warmed(SUSPICIOUS)
    assert run(policy, [from_ip(TOR_IP, ["Tor exit node"]), from_ip("198.51.100.20")], states) == []
    fresh = spec(SUSPICIOUS)
    assert run(fresh, [from_ip(BOTNET_IP, ["Botnet"], "risky")], {}) == []


def test_suspicious_ip_sensitivity():
    failed = from_ip(BOTNET_IP, ["Password spray"], "risky", error="AccessDenied")
    manual = from_ip("91.240.118.7", [], "risky", at=T0 + minutes(1))
    for sensitivity, expected in (("low", 0), ("medium", 1), ("high", 2)):
        policy, states = warmed(SUSPICIOUS, sensitivity=sensitivity)
        found = run(policy, [failed, manual], states)
        assert sum(f.activity_count for f in found) == expected, sensitivity


# --------------------------------------------------------------------------------------------------
# Volume: anomaly_mass_vm_deletion, anomaly_mass_vm_creation, anomaly_mass_storage_deletion,
# anomaly_unusual_admin_activity

DELETION = "anomaly_mass_vm_deletion"
CREATION = "anomaly_mass_vm_creation"
STORAGE = "anomaly_mass_storage_deletion"
ADMIN = "anomaly_unusual_admin_activity"


def instances(prefix: str, count: int) -> list[str]:
    return [f"i-{prefix}{n:012x}" for n in range(count)]


def ec2(name: str, ids: list[str], *, at=T0, user="junho.kang", region="us-east-1", error=None):
    """TerminateInstances / RunInstances of ``ids`` (the response lists them, as CloudTrail does)."""
    items = {"items": [{"instanceId": i} for i in ids]}
    event = call(name, "ec2.amazonaws.com", at=at, user=user, region=region, error=error)
    event["requestParameters"] = (
        {"instancesSet": items} if name == "TerminateInstances" else {"minCount": len(ids)}
    )
    event["responseElements"] = None if error else {"instancesSet": items}
    return activity(event)


def terminations(count: int, *, at=T0, per_call: int = 5, **kw) -> list:
    ids = instances(f"{at:%d%H}", count)
    return [
        ec2("TerminateInstances", ids[start : start + per_call], at=at + minutes(start), **kw)
        for start in range(0, count, per_call)
    ]


def autoscaling_history(name: str, per_day: int = 3, days: int = 8) -> list:
    """An Auto Scaling group's daily launches (or terminations) of ``per_day`` instances."""
    return [
        ec2(name, instances(f"{day:02d}", per_day), at=T0 - timedelta(days=day, hours=2), user="autoscaling")
        for day in range(days, 0, -1)
    ]


def start_of_history():
    return activity(call("GetCallerIdentity", "sts.amazonaws.com", at=WARM))


def test_vm_deletion_counts_instance_ids_in_one_hour():
    policy, states = warmed(DELETION, events=autoscaling_history("TerminateInstances"))
    (finding,) = run(policy, terminations(26), states)
    assert finding.principal.endswith("user/junho.kang")
    assert finding.evidence["explanation"] == "VMs deleted in one hour: 26, usual at most 3"
    assert len(finding.evidence["units"]) == 26 and finding.activity_count == 6  # every call, from the 5th VM


def test_vm_deletion_look_alikes_stay_quiet():
    policy, states = warmed(DELETION, events=autoscaling_history("TerminateInstances"))
    # Auto Scaling goes on terminating its three instances a day; someone terminates four.
    quiet = autoscaling_history("TerminateInstances", days=1) and [
        ec2("TerminateInstances", instances("aa", 3), at=T0, user="autoscaling"),
        *terminations(4, at=T0 + timedelta(hours=1)),
        # The same instance terminated again counts once; failed calls do not count.
        ec2(
            "TerminateInstances",
            instances(f"{T0 + timedelta(hours=1):%d%H}", 1),
            at=T0 + timedelta(hours=1, minutes=5),
        ),
        ec2(
            "TerminateInstances",
            instances("ff", 9),
            at=T0 + timedelta(hours=1, minutes=6),
            error="UnauthorizedOperation",
        ),
    ]
    assert run(policy, quiet, states) == []


def test_vm_deletion_spread_over_hours_stays_quiet_and_sliding_hour_counts_across_clock_hours():
    policy, states = warmed(DELETION)
    spread = [
        ec2("TerminateInstances", instances(f"{h:02d}", 4), at=T0 + timedelta(hours=h)) for h in range(5)
    ]
    assert run(policy, spread, states) == []
    across = T0.replace(hour=20, minute=40)
    (finding,) = run(policy, terminations(6, at=across, per_call=2, user="bob"), states)
    assert finding.evidence["count"] == 6


def test_vm_deletion_above_the_environment_baseline_and_the_floor():
    history = [
        ec2("TerminateInstances", instances(f"{d:02d}", 12), at=T0 - timedelta(days=d), user="ops")
        for d in (8, 3)
    ]
    policy, states = warmed(DELETION, events=history)
    assert run(policy, terminations(10), states) == []  # the environment terminates 12 an hour at times
    assert len(run(policy, terminations(13, at=T0 + timedelta(hours=3)), states)) == 1


def test_vm_deletion_learning_sensitivity_and_suppression():
    policy = spec(DELETION)
    assert run(policy, terminations(26), {}) == []  # the first event: learning
    for sensitivity, count, expected in (
        ("low", 9, 0),
        ("low", 10, 1),
        ("medium", 5, 1),
        ("high", 3, 1),
        ("medium", 4, 0),
    ):
        policy, states = warmed(DELETION, sensitivity=sensitivity)
        assert len(run(policy, terminations(count, per_call=1), states)) == expected, (sensitivity, count)
    policy, states = warmed(DELETION)
    burst = terminations(30)
    (first,) = run(policy, burst[:2], states)
    (second,) = run(policy, burst[2:], states)
    assert second.key == first.key


def test_vm_deletion_out_of_order_batches():
    policy, states = warmed(DELETION)
    burst = terminations(10, per_call=2)
    assert run(policy, burst[3:], states) == []  # 4 instances
    (finding,) = run(policy, burst[:3], states)  # 6 more arrive late from another region's trail
    assert finding.evidence["count"] >= 5


def test_vm_creation_crypto_mining_burst():
    policy, states = warmed(CREATION, events=autoscaling_history("RunInstances"))
    launches = [
        ec2(
            "RunInstances",
            instances(f"c{n}", 4 + n % 2),
            at=T0 + minutes(3 * n),
            user="build-bot",
            region="ap-southeast-2",
        )
        for n in range(4)
    ]
    launches.append(
        ec2("RunInstances", [], at=T0 + minutes(14), user="build-bot", error="Client.VcpuLimitExceeded")
    )
    (finding,) = run(policy, launches, states)
    assert finding.principal.endswith("user/build-bot")
    assert finding.evidence["explanation"] == "VMs launched in one hour: 18, usual at most 0"
    assert finding.evidence["regions"] == ["ap-southeast-2"]


def test_vm_creation_autoscaling_and_sensitivity():
    policy, states = warmed(CREATION, events=autoscaling_history("RunInstances"))
    daily = [ec2("RunInstances", instances("zz", 3), at=T0, user="autoscaling")]
    nine = [ec2("RunInstances", instances("yy", 9), at=T0, user="deployer")]
    assert run(policy, daily + nine, states) == []
    policy, states = warmed(CREATION, sensitivity="high")
    assert len(run(policy, nine, states)) == 1
    policy, states = warmed(CREATION, sensitivity="low")
    assert run(policy, [ec2("RunInstances", instances("xx", 19), at=T0)], states) == []
    policy, states = warmed(CREATION)
    assert run(spec(CREATION), [*nine, ec2("RunInstances", instances("ww", 9), at=T0)], {}) == []  # learning


def s3_delete(name: str = "DeleteObject", *, at=T0, user="svc-cleanup", bucket="hanbit-exports"):
    event = call(name, "s3.amazonaws.com", at=at, user=user)
    event["requestParameters"] = {"bucketName": bucket, "key": f"tmp/{at:%H%M%S}"}
    return activity(event)


def test_storage_deletion_mass_delete_versus_weekly_cleanup():
    weekly = [s3_delete(at=T0 - timedelta(days=7, minutes=-n)) for n in range(6)]
    policy, states = warmed(STORAGE, events=weekly)
    assert run(policy, [s3_delete(at=T0 + minutes(n)) for n in range(6)], states) == []
    wipe = [s3_delete(at=T0 + timedelta(hours=2, seconds=20 * n), user="mallory") for n in range(40)]
    wipe.append(s3_delete("DeleteBucket", at=T0 + timedelta(hours=2, minutes=15), user="mallory"))
    (finding,) = run(policy, wipe, states)
    assert finding.evidence["explanation"] == "S3 deletions in one hour: 41, usual at most 0"
    assert finding.evidence["threshold"] == 20


def test_storage_deletion_above_twice_the_principals_baseline_and_sensitivity():
    busy = [start_of_history()] + [s3_delete(at=T0 - timedelta(days=3, seconds=-30 * n)) for n in range(15)]
    policy, states = warmed(STORAGE, events=busy)
    assert run(policy, [s3_delete(at=T0 + timedelta(seconds=30 * n)) for n in range(30)], states) == []
    policy, states = warmed(STORAGE, events=busy)  # (the 30 just seen are now part of the baseline)
    assert len(run(policy, [s3_delete(at=T0 + timedelta(seconds=30 * n)) for n in range(31)], states)) == 1
    policy, states = warmed(STORAGE, sensitivity="high")
    assert len(run(policy, [s3_delete(at=T0 + timedelta(seconds=n)) for n in range(12)], states)) == 1


def admin_calls(count: int, *, at=T0, user="mallory", every: float = 0.5) -> list:
    return [
        activity(call("AttachUserPolicy", "iam.amazonaws.com", at=at + minutes(n * every), user=user))
        for n in range(count)
    ]


def test_unusual_admin_activity_far_above_the_baseline():
    history = [start_of_history(), *admin_calls(12, at=T0 - timedelta(days=4), user="terraform")]
    policy, states = warmed(ADMIN, events=history)
    assert run(policy, admin_calls(36, user="terraform"), states) == []  # 3 x 12 = 36: not far above
    policy, states = warmed(ADMIN, events=history)
    (finding,) = run(policy, admin_calls(37, user="terraform"), states)
    assert finding.evidence["usual_max"] == 12 and finding.evidence["count"] == 37
    assert admin_calls(1)[0]["administrative"]
    policy, states = warmed(ADMIN, sensitivity="low")
    assert run(policy, admin_calls(59), states) == []
    read_only = [
        activity(call("ListUsers", "iam.amazonaws.com", at=T0 + minutes(n / 10), read_only=True))
        for n in range(100)
    ]
    policy, states = warmed(ADMIN)
    assert run(policy, read_only, states) == []
    assert len(run(policy, admin_calls(30, at=T0 + timedelta(hours=1)), states)) == 1


def admin_routine(
    user: str, calls=(("iam.amazonaws.com", "CreateUser"), ("iam.amazonaws.com", "AttachUserPolicy"))
):
    """``user``'s administrative routine on the first day of the history (its learning starts there)."""
    return [
        activity(call(name, source, at=WARM + minutes(n), user=user))
        for n, (source, name) in enumerate(calls)
    ]


def cloudtrail_call(name: str, *, at=T0, user="lena", read_only=False) -> dict:
    return activity(call(name, "cloudtrail.amazonaws.com", at=at, user=user, read_only=read_only))


TRAIL_TAMPERING = ("StopLogging", "DeleteTrail", "PutEventSelectors")


def test_unusual_admin_activity_new_event_types_alert_with_what_the_principal_used_before():
    policy, states = warmed(ADMIN, events=admin_routine("lena"))
    # Borrowed credentials covering their tracks: three trail calls she never made, within the hour.
    batch = [cloudtrail_call(name, at=T0 + minutes(20 * n)) for n, name in enumerate(TRAIL_TAMPERING)]
    (finding,) = run(policy, batch, states)
    assert finding.principal == "arn:aws:iam::123456789012:user/lena"
    assert finding.group_key == "principal:arn:aws:iam::123456789012:user/lena|new-admin-types"
    assert finding.extend_open
    assert finding.activity_count == 3
    assert finding.evidence["explanation"] == (
        "administrative event types used by lena before: 2 (iam:AttachUserPolicy, iam:CreateUser) "
        "- new: cloudtrail:DeleteTrail, cloudtrail:PutEventSelectors, cloudtrail:StopLogging"
    )
    assert finding.evidence["other_principals"] == {f"cloudtrail:{name}": 0 for name in TRAIL_TAMPERING}
    assert "lena calls cloudtrail:DeleteTrail, cloudtrail:PutEventSelectors, cloudtrail:StopLogging" in (
        finding.title
    )


def test_unusual_admin_activity_known_read_only_shared_and_one_off_types_stay_quiet():
    team = [
        *admin_routine("lena"),
        *admin_routine("ops.min", calls=[("cloudtrail.amazonaws.com", "UpdateTrail")]),
        *admin_routine("ops.jae", calls=[("cloudtrail.amazonaws.com", "UpdateTrail")]),
    ]
    policy, states = warmed(ADMIN, events=team)
    look_alikes = [
        activity(call("CreateUser", "iam.amazonaws.com", at=T0, user="lena")),  # her own routine
        cloudtrail_call("DescribeTrails", at=T0 + minutes(1), read_only=True),  # not administrative
        cloudtrail_call("UpdateTrail", at=T0 + minutes(2)),  # two others use it: team routine
        cloudtrail_call("CreateTrail", at=T0 + minutes(3)),  # two new types in an hour: everyday work
        cloudtrail_call("AddTags", at=T0 + minutes(4)),
    ]
    assert run(policy, look_alikes, states) == []
    # Learned: the types she picked up are hers now.
    assert states[ADMIN]["admin_types"]["arn:aws:iam::123456789012:user/lena"]["types"].keys() == {
        "iam:CreateUser",
        "iam:AttachUserPolicy",
        "cloudtrail:UpdateTrail",
        "cloudtrail:CreateTrail",
        "cloudtrail:AddTags",
    }
    again = [cloudtrail_call(name, at=T0 + minutes(10)) for name in ("CreateTrail", "AddTags", "UpdateTrail")]
    assert run(policy, again, states) == []


def test_unusual_admin_activity_new_types_learn_per_organization_and_per_principal():
    policy, states = spec(ADMIN), {}
    early = [cloudtrail_call(name, at=WARM + timedelta(days=6)) for name in TRAIL_TAMPERING]
    assert run(policy, [*admin_routine("lena"), *early], states) == []
    # After the organization's 7 days a principal seen for the first time learns its own 7 days.
    newcomer = [cloudtrail_call(name, user="newcomer") for name in ("CreateTrail", "UpdateTrail", "AddTags")]
    assert run(policy, newcomer, states) == []
    later = T0 + timedelta(days=7)
    (finding,) = run(
        policy, [cloudtrail_call(name, user="newcomer", at=later) for name in TRAIL_TAMPERING], states
    )
    assert finding.evidence["known_count"] == 3
    assert finding.evidence["other_principals"]["cloudtrail:StopLogging"] == 1  # lena, in her learning


def test_unusual_admin_activity_new_types_sensitivity_moves_the_count_and_the_rarity():
    team = [
        *admin_routine("lena"),
        *admin_routine("ops.min", calls=[("cloudtrail.amazonaws.com", "UpdateTrail")]),
    ]
    names = ["StopLogging", "DeleteTrail", "PutEventSelectors", "CreateTrail"]
    for sensitivity, count, alerts in (
        ("high", 1, 1),
        ("medium", 2, 0),
        ("medium", 3, 1),
        ("low", 3, 0),
        ("low", 4, 1),
    ):
        policy, states = warmed(ADMIN, events=team, sensitivity=sensitivity)
        batch = [cloudtrail_call(name, at=T0 + minutes(n)) for n, name in enumerate(names[:count])]
        assert len(run(policy, batch, states)) == alerts, (sensitivity, count)
    # UpdateTrail is ops.min's: one other principal is too many at low, not at medium.
    shared = [cloudtrail_call(n, at=T0 + minutes(i)) for i, n in enumerate(["UpdateTrail", *names])]
    policy, states = warmed(ADMIN, events=team, sensitivity="low")
    assert run(policy, shared[:4], states) == []
    policy, states = warmed(ADMIN, events=team, sensitivity="medium")
    (finding,) = run(policy, shared[:3], states)
    assert finding.evidence["other_principals"] == {
        "cloudtrail:UpdateTrail": 1,
        "cloudtrail:StopLogging": 0,
        "cloudtrail:DeleteTrail": 0,
    }


def test_unusual_admin_activity_new_types_of_one_day_are_one_episode_across_batches():
    policy, states = warmed(ADMIN, events=admin_routine("lena"))
    assert run(policy, [cloudtrail_call("StopLogging")], states) == []
    assert run(policy, [cloudtrail_call("DeleteTrail", at=T0 + minutes(30))], states) == []
    (first,) = run(
        policy, [cloudtrail_call("PutEventSelectors", at=T0 + minutes(40))], states
    )  # 3rd in the hour
    assert first.evidence["new_event_types"] == [f"cloudtrail:{name}" for name in sorted(TRAIL_TAMPERING)]
    (second,) = run(policy, [cloudtrail_call("CreateTrail", at=T0 + timedelta(hours=5))], states)
    assert second.key == first.key and second.group_key == first.group_key
    assert run(policy, [cloudtrail_call("StopLogging", at=T0 + timedelta(hours=6))], states) == []
    later = T0 + timedelta(days=2)
    fresh = ("UpdateTrail", "AddTags", "CreateEventDataStore")
    (new_episode,) = run(policy, [cloudtrail_call(n, at=later) for n in fresh], states)
    assert new_episode.key != first.key


# --------------------------------------------------------------------------------------------------
# Geography: anomaly_impossible_travel, anomaly_infrequent_country, anomaly_unusual_region

TRAVEL = "anomaly_impossible_travel"
COUNTRY = "anomaly_infrequent_country"
REGION = "anomaly_unusual_region"
SEOUL, TOKYO, BUCHAREST, BUSAN = (
    (37.57, 126.98, "KR", "Seoul"),
    (35.68, 139.69, "JP", "Tokyo"),
    (
        44.43,
        26.10,
        "RO",
        "Bucharest",
    ),
    (35.18, 129.08, "KR", "Busan"),
)


def at_place(place, ip: str, *, at=T0, user="soyeon.choi", category: str = "", **kw) -> dict:
    """A successful sign-in-like call located at ``place`` (lat, lon, country, city)."""
    a = activity(call("ListBuckets", "s3.amazonaws.com", at=at, ip=ip, user=user, **kw))
    a["latitude"], a["longitude"], a["country"], a["city"] = place
    a["ip_category"] = category
    return a


def user_history(user="soyeon.choi", place=SEOUL, ip="175.223.10.5", days=8) -> list:
    return [at_place(place, ip, at=T0 - timedelta(days=d), user=user) for d in range(days, 0, -1)]


def test_impossible_travel_seoul_then_bucharest_in_40_minutes():
    policy, states = warmed(TRAVEL, events=user_history())
    batch = [at_place(SEOUL, "175.223.10.5"), at_place(BUCHAREST, "5.2.69.50", at=T0 + minutes(40))]
    (finding,) = run(policy, batch, states)
    assert finding.principal.endswith("user/soyeon.choi") and finding.activity_count == 2
    evidence = finding.evidence
    assert 7500 < evidence["distance_km"] < 8000 and evidence["minutes"] == 40
    assert evidence["speed_kmh"] > 10000 and evidence["max_speed_kmh"] == 900
    assert "Seoul, KR (175.223.10.5)" in evidence["explanation"]
    assert "Bucharest, RO (5.2.69.50)" in evidence["explanation"] and "km/h" in evidence["explanation"]


def test_impossible_travel_look_alikes_stay_quiet():
    policy, states = warmed(TRAVEL, events=user_history() + user_history("taeyang.yoon"))
    quiet = [
        # A flight Seoul -> Tokyo: five hours.
        at_place(SEOUL, "175.223.10.9", user="taeyang.yoon"),
        at_place(TOKYO, "126.1.1.1", user="taeyang.yoon", at=T0 + timedelta(hours=5)),
        # Seoul -> Busan (325 km) in 20 minutes: under the minimum distance (a mobile network hop).
        at_place(SEOUL, "175.223.10.5"),
        at_place(BUSAN, "211.1.1.1", at=T0 + minutes(20)),
        # The office, then the corporate VPN egress in Frankfurt.
        at_place(SEOUL, "125.130.148.9", user="mina.jung", category="corporate", at=T0 + minutes(1)),
        at_place(
            (50.11, 8.68, "DE", "Frankfurt"),
            "93.211.63.7",
            user="mina.jung",
            category="vpn",
            at=T0 + minutes(30),
        ),
    ]
    failed = activity(console_login(at=T0 + minutes(25), ip="5.2.69.50", user="soyeon.choi"))
    failed["latitude"], failed["longitude"] = BUCHAREST[:2]
    service = at_place(BUCHAREST, "", at=T0 + minutes(26))
    service["ip_address"] = None
    assert run(policy, [*quiet, failed, service], states) == []


def test_impossible_travel_high_sensitivity_compares_corporate_and_vpn_too():
    pair = [
        at_place(SEOUL, "125.130.148.9", user="mina.jung", category="corporate"),
        at_place(
            (50.11, 8.68, "DE", "Frankfurt"),
            "93.211.63.7",
            user="mina.jung",
            category="vpn",
            at=T0 + minutes(30),
        ),
    ]
    policy, states = warmed(TRAVEL, events=user_history("mina.jung"), sensitivity="high")
    assert len(run(policy, pair, states)) == 1
    # Low sensitivity allows 1,350 km/h: 2,000 km in 2 hours (1,000 km/h) passes, medium does not.
    far = [
        at_place(SEOUL, "175.223.10.5"),
        at_place((22.3, 114.17, "HK", "Hong Kong"), "1.36.0.1", at=T0 + minutes(120)),
    ]
    policy, states = warmed(TRAVEL, events=user_history())
    assert len(run(policy, far, states)) == 1
    policy, states = warmed(TRAVEL, events=user_history(), sensitivity="low")
    assert run(policy, far, states) == []


def test_impossible_travel_per_principal_learning():
    # The organization is 8 days old but soyeon.choi was first seen 3 days ago.
    policy, states = warmed(TRAVEL, events=[start_of_history(), *user_history(days=3)])
    batch = [at_place(SEOUL, "175.223.10.5"), at_place(BUCHAREST, "5.2.69.50", at=T0 + minutes(40))]
    assert run(policy, batch, states) == []


def test_impossible_travel_late_events_and_one_episode():
    policy, states = warmed(TRAVEL, events=user_history())
    assert run(policy, [at_place(BUCHAREST, "5.2.69.50", at=T0 + minutes(40))], states) == []
    # The Seoul sign-in 40 minutes earlier arrives late (another region's trail): judged in event time.
    (finding,) = run(policy, [at_place(SEOUL, "175.223.10.5")], states)
    assert finding.evidence["from"]["country"] == "KR" and finding.evidence["to"]["country"] == "RO"
    (again,) = run(policy, [at_place(SEOUL, "175.223.10.5", at=T0 + minutes(80))], states)
    assert again.key == finding.key


def test_infrequent_country_new_and_rare_country():
    policy, states = warmed(
        COUNTRY, events=user_history() + user_history("minjun", place=TOKYO, ip="126.1.1.1")
    )
    batch = [at_place(BUCHAREST, "5.2.69.50", at=T0 + minutes(n)) for n in range(3)]
    (finding,) = run(policy, batch, states)
    assert finding.evidence["explanation"] == "countries in the last 30 days: KR - new: RO"
    assert finding.activity_count == 3
    (later,) = run(policy, [at_place(BUCHAREST, "5.2.69.50", at=T0 + timedelta(hours=3))], states)
    assert later.key == finding.key  # collected into the same alert for a day
    assert (
        run(policy, [at_place(BUCHAREST, "5.2.69.50", at=T0 + timedelta(days=2))], states) == []
    )  # now known


def test_infrequent_country_look_alikes_and_sensitivity():
    history = (
        user_history()
        + user_history("taeyang.yoon")
        + [at_place(TOKYO, "126.1.1.1", user="taeyang.yoon", at=T0 - timedelta(days=6))]
    )
    history += user_history("minjun", place=TOKYO, ip="126.1.1.2") + user_history(
        "jisoo", place=TOKYO, ip="126.1.1.3"
    )
    policy, states = warmed(COUNTRY, events=history)
    assert run(policy, [at_place(TOKYO, "126.1.1.1", user="taeyang.yoon")], states) == []  # in his baseline
    vpn = at_place((50.11, 8.68, "DE", "Frankfurt"), "93.211.63.7", category="vpn")
    assert run(policy, [vpn], states) == []
    # Tokyo is used by two other principals: not rare at medium, rare enough at high.
    assert run(policy, [at_place(TOKYO, "126.1.1.9", at=T0 + minutes(1))], states) == []
    policy, states = warmed(COUNTRY, events=history, sensitivity="high")
    assert len(run(policy, [at_place(TOKYO, "126.1.1.9", at=T0 + minutes(1))], states)) == 1
    # Per-principal learning: a principal seen for the first time today is not judged.
    policy, states = warmed(COUNTRY, events=history)
    assert run(policy, [at_place(BUCHAREST, "5.2.69.50", user="newcomer")], states) == []


def create(region: str, *, at=T0, user="build-bot", name="RunInstances", read_only=False):
    return activity(call(name, "ec2.amazonaws.com", at=at, region=region, user=user, read_only=read_only))


def region_history() -> list:
    return [
        create(r, at=T0 - timedelta(days=d), user="terraform")
        for d in range(8, 0, -1)
        for r in ("us-east-1", "eu-west-1")
    ]


def test_unusual_region_creation_in_a_region_never_used():
    policy, states = warmed(REGION, events=region_history())
    batch = [
        create("ap-southeast-2", name="DescribeRegions", read_only=True),
        create("ap-southeast-2", name="CreateKeyPair", at=T0 + minutes(1)),
        create("ap-southeast-2", at=T0 + minutes(5)),
    ]
    (finding,) = run(policy, batch, states)
    assert (
        finding.evidence["explanation"]
        == "regions in the last 30 days: eu-west-1, us-east-1 - new: ap-southeast-2"
    )
    assert finding.activity_count == 2 and finding.group_key.endswith("|region:ap-southeast-2")


def test_unusual_region_look_alikes_learning_and_sensitivity():
    policy, states = warmed(REGION, events=region_history())
    assert (
        run(
            policy,
            [create("us-east-1", user="autoscaling"), create("eu-west-1", name="CreateBucket")],
            states,
        )
        == []
    )
    # Read-only calls in every region (the console's region picker) never alert and never make a region used.
    assert run(policy, [create("sa-east-1", name="DescribeInstances", read_only=True)], states) == []
    assert run(spec(REGION), [*region_history()[-2:], create("ap-southeast-2")], {}) == []  # learning
    low, low_states = warmed(REGION, events=region_history(), sensitivity="low")
    assert run(low, [create("ap-southeast-2", name="CreateKeyPair")], low_states) == []
    high, high_states = warmed(REGION, events=region_history(), sensitivity="high")
    assert len(run(high, [create("ap-southeast-2", name="ImportKeyPair")], high_states)) == 1
