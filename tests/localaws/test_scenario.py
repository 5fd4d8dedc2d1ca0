"""The scenario generator: determinism, CloudTrail shape, geography, episodes, files, scale, emulator."""

from __future__ import annotations

import csv
import gzip
import ipaddress
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import _maxminddb_geolite2
import maxminddb
import pytest
from django.core.management import CommandError, call_command

from connectors import aws
from connectors.credentials_csv import parse_access_key_csv
from connectors.iam_policies import GOVERNANCE_ACTIONS, policy_document
from localaws.scenario import build_scenario, geo, principal_key, write_scenario_files
from localaws.scenario.episodes import TEMPLATE_KEYS
from localaws.scenario.files import event_epoch
from localaws.scenario.spec import INSTANCE_LAYOUT, ORG_REGIONS

ROOT = Path(__file__).resolve().parents[2]
SEED_DOCUMENT = ROOT.parent / "shared" / "seed" / "protect-aws.ko.txt"
END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
SMALL = {"principals": 22, "days": 3}  # the smallest cast that still plays every episode
TRAIL_KEY = re.compile(
    r"^AWSLogs/123456789012/CloudTrail/(?P<region>[a-z]{2}-[a-z]+-\d)/(?P<day>\d{4}/\d{2}/\d{2})/"
    r"123456789012_CloudTrail_(?P=region)_(?P<stamp>\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
REQUIRED = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "requestParameters",
    "responseElements",
    "eventID",
    "readOnly",
    "eventType",
    "managementEvent",
    "recipientAccountId",
    "eventCategory",
)
# PRODUCT.md 6.1: each template's event source and event names.
TEMPLATES = {
    "aws_console_failed_logins": ("signin.amazonaws.com", {"ConsoleLogin"}),
    "aws_cloudtrail_config_changes": (
        "cloudtrail.amazonaws.com",
        {"CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging", "PutEventSelectors"}
        | {"PutInsightSelectors"},
    ),
    "aws_ec2_instance_config_changes": (
        "ec2.amazonaws.com",
        {"RunInstances", "StartInstances", "StopInstances", "RebootInstances", "TerminateInstances"}
        | {"ModifyInstanceAttribute", "ModifyInstanceMetadataOptions", "AssociateIamInstanceProfile"}
        | {"ReplaceIamInstanceProfileAssociation"},
    ),
    "aws_iam_policy_changes": (
        "iam.amazonaws.com",
        {
            f"{verb}{kind}Policy"
            for verb in ("Put", "Delete", "Attach", "Detach")
            for kind in ("User", "Group", "Role")
        }
        | {
            "CreatePolicy",
            "DeletePolicy",
            "CreatePolicyVersion",
            "DeletePolicyVersion",
            "SetDefaultPolicyVersion",
        },
    ),
    "aws_risky_ip_logon": ("signin.amazonaws.com", {"ConsoleLogin"}),
    "aws_network_acl_changes": (
        "ec2.amazonaws.com",
        {"CreateNetworkAcl", "DeleteNetworkAcl", "CreateNetworkAclEntry", "DeleteNetworkAclEntry"}
        | {"ReplaceNetworkAclEntry", "ReplaceNetworkAclAssociation"},
    ),
    "aws_network_gateway_changes": (
        "ec2.amazonaws.com",
        {"CreateCustomerGateway", "DeleteCustomerGateway", "CreateNatGateway", "DeleteNatGateway"}
        | {f"{verb}InternetGateway" for verb in ("Create", "Delete", "Attach", "Detach")}
        | {"CreateTransitGateway", "DeleteTransitGateway"},
    ),
    "aws_s3_config_changes": (
        "s3.amazonaws.com",
        {f"{verb}Bucket{what}" for verb in ("Put", "Delete") for what in ("Policy", "Cors", "Lifecycle")}
        | {f"{verb}Bucket{what}" for verb in ("Put", "Delete") for what in ("Replication", "Encryption")}
        | {"PutBucketAcl", "PutBucketVersioning", "PutBucketLogging", "PutBucketPublicAccessBlock"}
        | {"DeleteBucketPublicAccessBlock", "PutBucketOwnershipControls"},
    ),
    "aws_security_group_changes": (
        "ec2.amazonaws.com",
        {f"{verb}SecurityGroup{way}" for verb in ("Authorize", "Revoke") for way in ("Ingress", "Egress")}
        | {"CreateSecurityGroup", "DeleteSecurityGroup", "ModifySecurityGroupRules"},
    ),
    "aws_vpn_changes": (
        "ec2.amazonaws.com",
        {"CreateVpc", "DeleteVpc", "ModifyVpcAttribute", "CreateVpnConnection", "DeleteVpnConnection"}
        | {"CreateVpcPeeringConnection", "AcceptVpcPeeringConnection", "RejectVpcPeeringConnection"}
        | {"DeleteVpcPeeringConnection", "CreateVpnConnectionRoute", "DeleteVpnConnectionRoute"}
        | {f"{verb}VpnGateway" for verb in ("Create", "Delete", "Attach", "Detach")},
    ),
}
ANOMALY_KEYS = {
    "anomaly_anonymous_ip",
    "anomaly_infrequent_country",
    "anomaly_suspicious_ip",
    "anomaly_impossible_travel",
    "anomaly_terminated_user",
    "anomaly_multiple_failed_logins",
    "anomaly_unusual_admin_activity",
    "anomaly_mass_storage_deletion",
    "anomaly_mass_vm_deletion",
    "anomaly_mass_vm_creation",
    "anomaly_unusual_region",
}


def epoch(record: dict) -> int:
    return event_epoch(record["eventTime"])


@pytest.fixture(scope="module")
def small():
    return build_scenario("demo", seed=7, end=END, **SMALL)


@pytest.fixture(scope="module")
def small_events(small):
    return list(small.iter_events())


@pytest.fixture(scope="module")
def small_manifest(small, small_events):
    return small.manifest()


@pytest.fixture(scope="module")
def geoip():
    with maxminddb.open_database(_maxminddb_geolite2.geolite2_database()) as reader:
        yield reader


# --- determinism and the time window ------------------------------------------------------------
def test_same_name_seed_and_anchor_give_identical_events(small_events):
    again = build_scenario("demo", seed=7, end=END, **SMALL)
    assert [json.dumps(r) for r in again.iter_events()] == [json.dumps(r) for r in small_events]


def test_another_seed_or_scenario_gives_other_events(small_events):
    ids = {r["eventID"] for r in small_events}
    other_seed = {r["eventID"] for r in build_scenario("demo", seed=8, end=END, **SMALL).iter_events()}
    quiet = {r["eventID"] for r in build_scenario("quiet", seed=7, end=END, **SMALL).iter_events()}
    assert not ids & other_seed
    assert not ids & quiet


def test_default_anchor_is_the_current_hour():
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    scenario = build_scenario("quiet", days=2, principals=22)
    after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    assert scenario.end_at in {before, after}
    assert scenario.start_at == scenario.end_at - timedelta(days=2)


def test_events_are_in_time_order_within_the_window(small, small_events):
    times = [epoch(r) for r in small_events]
    assert times == sorted(times)
    assert small.start <= times[0] and times[-1] < small.end == int(END.timestamp())
    assert small.end - small.start == 3 * 86400
    # The last day is today: activity reaches the anchor's last hours.
    assert times[-1] > small.end - 3 * 3600


# --- the CloudTrail records -------------------------------------------------------------------
def test_every_record_is_a_complete_cloudtrail_record(small_events):
    ids = set()
    for record in small_events:
        json.loads(json.dumps(record))
        missing = [field for field in REQUIRED if field not in record]
        assert not missing, (missing, record["eventName"])
        assert record["eventVersion"] in {"1.08", "1.09"}
        assert record["eventSource"].endswith(".amazonaws.com")
        assert record["eventType"] in {"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent"}
        assert record["recipientAccountId"] == "123456789012"
        assert isinstance(record["readOnly"], bool)
        assert record["eventCategory"] == ("Management" if record["managementEvent"] else "Data")
        assert UUID.match(record["eventID"])
        assert record["eventID"] not in ids
        ids.add(record["eventID"])
        source_ip = record["sourceIPAddress"]
        if source_ip.endswith(".amazonaws.com") or source_ip == "AWS Internal":
            assert "tlsDetails" not in record
        else:
            ipaddress.ip_address(source_ip)
            assert record["tlsDetails"]["tlsVersion"].startswith("TLSv1.")
        if record.get("errorCode"):
            assert record["responseElements"] is None and record["errorMessage"]


def test_the_records_cover_the_identities_services_and_outcomes_the_product_handles(small_events):
    types = Counter(r["userIdentity"].get("type", "(service event)") for r in small_events)
    assert {"IAMUser", "AssumedRole", "Root", "AWSService", "SAMLUser", "(service event)"} <= set(types)
    sources = {r["eventSource"].split(".")[0] for r in small_events}
    assert {"ec2", "s3", "iam", "sts", "signin", "cloudtrail", "kms", "lambda"} <= sources
    event_types = {r["eventType"] for r in small_events}
    assert event_types == {"AwsApiCall", "AwsConsoleSignIn", "AwsServiceEvent"}
    arns = {r["userIdentity"].get("arn", "") for r in small_events}
    assert any("/AWSReservedSSO_" in arn and arn.endswith("@hanbit.example") for arn in arns)
    assert any("assumed-role/ADFS-" in arn for arn in arns)
    assert any(r["readOnly"] for r in small_events) and any(not r["readOnly"] for r in small_events)
    assert Counter(r.get("errorCode") for r in small_events)["AccessDenied"] > 0
    agents = " ".join({r["userAgent"] for r in small_events})
    for agent in ("AWS Internal", "aws-cli/2.", "Boto3/1.", "Terraform/1.", "Mozilla/5.0"):
        assert agent in agents


def test_console_sign_ins_have_aws_shape(small_events):
    logins = [r for r in small_events if r["eventName"] == "ConsoleLogin"]
    outcomes = Counter(r["responseElements"]["ConsoleLogin"] for r in logins)
    assert outcomes["Success"] and outcomes["Failure"]
    for login in logins:
        assert login["eventSource"] == "signin.amazonaws.com" and login["eventType"] == "AwsConsoleSignIn"
        assert login["additionalEventData"]["MFAUsed"] in {"Yes", "No"}
        assert "accessKeyId" not in login["userIdentity"]
        if login["responseElements"]["ConsoleLogin"] == "Failure":
            assert login["errorMessage"] == "Failed authentication" and "errorCode" not in login
    federated = [r for r in small_events if r["eventName"] == "AssumeRoleWithSAML"]
    assert federated and all(
        principal_key(r) == r["responseElements"]["assumedRoleUser"]["arn"] for r in federated
    )


def test_principal_key_follows_the_product_convention():
    account = "123456789012"
    user = {
        "userIdentity": {"type": "IAMUser", "arn": f"arn:aws:iam::{account}:user/alice", "userName": "alice"}
    }
    assert principal_key(user) == f"arn:aws:iam::{account}:user/alice"
    hidden = {
        "userIdentity": {
            "type": "IAMUser",
            "accountId": account,
            "userName": "HIDDEN_DUE_TO_SECURITY_REASONS",
        }
    }
    assert principal_key(hidden) == f"arn:aws:iam::{account}:user/HIDDEN_DUE_TO_SECURITY_REASONS"
    role = f"arn:aws:sts::{account}:assumed-role/Admin/bob@example.com"
    assert principal_key({"userIdentity": {"type": "AssumedRole", "arn": role}}) == role
    issuer = {"sessionIssuer": {"userName": "Admin"}}
    bare = {
        "userIdentity": {
            "type": "AssumedRole",
            "accountId": account,
            "principalId": "AROA1:bob",
            "sessionContext": issuer,
        }
    }
    assert principal_key(bare) == f"arn:aws:sts::{account}:assumed-role/Admin/bob"
    root = {"userIdentity": {"type": "Root", "accountId": account, "arn": f"arn:aws:iam::{account}:root"}}
    assert principal_key(root) == f"arn:aws:iam::{account}:root"
    service = {"userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}}
    assert principal_key(service) == "ec2.amazonaws.com"
    rotation = {
        "userIdentity": {"accountId": account, "invokedBy": "AWS Internal"},
        "eventSource": "kms.amazonaws.com",
        "sourceIPAddress": "AWS Internal",
    }
    assert principal_key(rotation) == "kms.amazonaws.com"
    saml = {
        "userIdentity": {"type": "SAMLUser", "userName": "bob"},
        "responseElements": {"assumedRoleUser": {"arn": role}},
    }
    assert principal_key(saml) == role


# --- geography --------------------------------------------------------------------------------
def test_city_table_matches_the_bundled_geolite2_database(geoip):
    for city in geo.CITIES.values():
        for ip in city.ips:
            found = geoip.get(ip)
            assert found["city"]["names"]["en"] == city.name, ip
            assert found["country"]["iso_code"] == city.country, ip
            assert (
                math.dist(
                    (found["location"]["latitude"], found["location"]["longitude"]),
                    (city.latitude, city.longitude),
                )
                < 2
            )
    for ip, (city, country) in geo.SPECIAL_IPS.items():
        found = geoip.get(ip) or {}
        assert (found.get("city") or {}).get("names", {}).get("en") == city, ip
        assert (found.get("country") or {}).get("iso_code") == country, ip
    for ip_range in geo.IP_RANGES:
        networks = [ipaddress.ip_network(cidr) for cidr in ip_range.cidrs]
        assert all(any(ipaddress.ip_address(ip) in n for n in networks) for ip in ip_range.ips)


def test_people_work_from_home_cities_at_local_working_hours(small, small_events, geoip):
    episode_ids = {i for ep in small.manifest()["episodes"] for i in ep["event_ids"]}
    people = {p.key: p for p in small.cast if p.persona in {"developer", "admin", "devops", "sre", "network"}}
    hours, countries = Counter(), defaultdict(set)
    for record in small_events:
        person = people.get(principal_key(record))
        if person is None or record["eventID"] in episode_ids:
            continue
        hours[int((epoch(record) / 3600 + person.offset) % 24)] += 1
        countries[person.name].add(geoip.get(record["sourceIPAddress"])["country"]["iso_code"])
    assert sum(hours[h] for h in range(8, 19)) > 0.95 * sum(hours.values())
    for name, seen in countries.items():
        person = next(p for p in people.values() if p.name == name)
        home = geo.SPECIAL_IPS.get(person.ip, (None, geo.CITIES[person.city].country))[1]
        allowed = {home, "DE"} if person.location == "hop" else {home, "JP"} if person.travel_city else {home}
        assert seen <= allowed, (name, seen)


def test_normal_activity_is_unremarkable(geoip):
    """Only the episodes stand out: no other burst of failed sign-ins, impossible trip, mass launch or
    termination, or region outside the organization's two."""
    for name in ("demo", "quiet"):
        scenario = build_scenario(name, seed=3, end=END, principals=22, days=8)
        episode_ids = {i for ep in scenario.manifest()["episodes"] for i in ep["event_ids"]}
        corporate = [
            ipaddress.ip_network(c)
            for r in geo.IP_RANGES
            if r.category in {"corporate", "vpn"}
            for c in r.cidrs
        ]
        last, failures, instances = {}, defaultdict(list), Counter()
        for record in scenario.iter_events():
            if record["eventID"] in episode_ids:
                continue
            key, t = principal_key(record), epoch(record)
            assert record["awsRegion"] in ORG_REGIONS
            if (
                record["eventName"] == "ConsoleLogin"
                and record["responseElements"]["ConsoleLogin"] == "Failure"
            ):
                failures[key].append(t)
                continue
            if record["eventName"] in {"RunInstances", "TerminateInstances"}:
                instances[(key, record["eventName"], t // 3600)] += len(
                    record["requestParameters"]["instancesSet"]["items"]
                )
            caller = record["sourceIPAddress"]
            found = geoip.get(caller) if caller[0].isdigit() else None
            if not found or "location" not in found:
                continue
            here = (found["location"]["latitude"], found["location"]["longitude"])
            inside = any(ipaddress.ip_address(record["sourceIPAddress"]) in n for n in corporate)
            if key in last:
                then, there, was_inside = last[key]
                km = _great_circle(there, here)
                assert km < 500 or km / max((t - then) / 3600, 1e-3) < 900 or (inside and was_inside), (
                    key,
                    record,
                )
            last[key] = (t, here, inside)
        for key, times in failures.items():
            assert all(sum(1 for u in times if t <= u < t + 600) < 5 for t in times), key
        assert max(instances.values()) < 5


def _great_circle(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371 * math.asin(math.sqrt(h))


# --- the manifest and the episodes ----------------------------------------------------------------
def test_manifest_names_existing_events(small, small_events, small_manifest):
    by_id = {r["eventID"]: r for r in small_events}
    json.dumps(small_manifest)
    assert small_manifest["event_count"] == len(small_events)
    assert sum(small_manifest["events_by_region"].values()) == len(small_events)
    assert small_manifest["account_id"] == "123456789012" and small_manifest["seed"] == 7
    keys = {p["key"] for p in small_manifest["principals"]}
    assert len(keys) == len(small_manifest["principals"]) == 22
    for episode in small_manifest["episodes"]:
        assert episode["event_ids"] and set(episode["expect"]) <= set(TEMPLATE_KEYS) | ANOMALY_KEYS
        assert episode["principal"] in keys
        for event_id in episode["event_ids"]:
            record = by_id[event_id]
            assert principal_key(record) == episode["principal"]
            assert small.end - 86400 <= epoch(record) < small.end, "episodes happen on the last day"
    for group in small_manifest["must_not_fire"]:
        assert group["event_ids"] and set(group["keys"]) <= set(TEMPLATE_KEYS) | ANOMALY_KEYS, group["name"]
        assert all(event_id in by_id for event_id in group["event_ids"]), group["name"]
    # An event may be in both lists (a mistyped password must fire the template, not the anomaly).
    expected = defaultdict(set)
    for episode in small_manifest["episodes"]:
        for event_id in episode["event_ids"]:
            expected[event_id] |= set(episode["expect"])
    for group in small_manifest["must_not_fire"]:
        for event_id in group["event_ids"]:
            assert not expected[event_id] & set(group["keys"]), (group["name"], event_id)


def test_each_activity_template_has_its_event(small_manifest, small_events):
    by_id = {r["eventID"]: r for r in small_events}
    episodes = {ep["name"]: ep for ep in small_manifest["episodes"]}
    for key, (source, names) in TEMPLATES.items():
        episode = episodes[f"template_{key}"]
        assert episode["expect"] == [key]
        (record,) = [by_id[i] for i in episode["event_ids"]]
        assert record["eventSource"] == source and record["eventName"] in names, key
        assert record["readOnly"] is False
    failed = by_id[episodes["template_aws_console_failed_logins"]["event_ids"][0]]
    assert failed["responseElements"] == {"ConsoleLogin": "Failure"}
    risky = by_id[episodes["template_aws_risky_ip_logon"]["event_ids"][0]]
    assert ipaddress.ip_address(risky["sourceIPAddress"]) in ipaddress.ip_network(geo.RISKY.cidrs[0])
    assert geo.RISKY.category == "risky" and risky["responseElements"] == {"ConsoleLogin": "Success"}


def test_attack_episodes_look_like_the_attacks(small, small_manifest, small_events):
    by_id = {r["eventID"]: r for r in small_events}
    episode = {ep["name"]: [by_id[i] for i in ep["event_ids"]] for ep in small_manifest["episodes"]}

    brute = episode["brute_force_tor"]
    failed = [
        r
        for r in brute
        if r["eventName"] == "ConsoleLogin" and r["responseElements"]["ConsoleLogin"] == "Failure"
    ]
    assert len(failed) >= 10 and epoch(failed[-1]) - epoch(failed[0]) < 600
    assert {r["sourceIPAddress"] for r in brute} == {geo.TOR_EXIT_IP} and geo.TOR_EXIT_IP.startswith(
        "185.220.101."
    )
    assert any(
        r["eventName"] == "ConsoleLogin" and r["responseElements"]["ConsoleLogin"] == "Success" for r in brute
    )

    logins = [r for r in episode["impossible_travel"] if r["eventName"] == "ConsoleLogin"]
    seoul, away = logins
    assert seoul["sourceIPAddress"] in geo.CITIES["Seoul"].ips
    assert epoch(away) - epoch(seoul) == 40 * 60
    far = geo.CITIES["Bucharest"]
    assert away["sourceIPAddress"] in far.ips
    assert _great_circle((37.6, 126.98), (far.latitude, far.longitude)) > 5000

    terminated = [
        i["instanceId"]
        for r in episode["mass_vm_termination"]
        if r["eventName"] == "TerminateInstances"
        for i in r["requestParameters"]["instancesSet"]["items"]
    ]
    times = [epoch(r) for r in episode["mass_vm_termination"]]
    assert len(set(terminated)) >= 20 and max(times) - min(times) < 3600

    launches = [
        r
        for r in episode["crypto_mining_launch"]
        if r["eventName"] == "RunInstances" and "errorCode" not in r
    ]
    launched = sum(len(r["responseElements"]["instancesSet"]["items"]) for r in launches)
    assert launched >= 15 and {r["awsRegion"] for r in launches} == {"ap-southeast-2"}
    assert {r["requestParameters"]["instanceType"] for r in launches} >= {"p3.16xlarge", "c5.24xlarge"}
    first_in_region = min(epoch(r) for r in small_events if r["awsRegion"] == "ap-southeast-2")
    assert first_in_region >= small.end - 86400

    (stop,) = episode["cloudtrail_stop_logging"]
    assert (stop["eventSource"], stop["eventName"]) == ("cloudtrail.amazonaws.com", "StopLogging")

    opened = [
        r for r in episode["security_group_open_ssh"] if r["eventName"] == "AuthorizeSecurityGroupIngress"
    ]
    (permission,) = opened[0]["requestParameters"]["ipPermissions"]["items"]
    assert permission["fromPort"] == 22 and permission["ipRanges"]["items"] == [{"cidrIp": "0.0.0.0/0"}]

    (leaver,) = [row for row in small.directory_rows() if row["email"] == "eunji.han@hanbit.example"]
    assert leaver["status"] == "terminated"
    gone = datetime.fromisoformat(leaver["terminated_at"].replace("Z", "+00:00")).timestamp()
    assert all(epoch(r) > gone for r in episode["terminated_user_activity"])
    leaver_key = small.principal("eunji.han").key
    episode_ids = {r["eventID"] for r in episode["terminated_user_activity"]}
    assert not [
        r
        for r in small_events
        if principal_key(r) == leaver_key and epoch(r) > gone and r["eventID"] not in episode_ids
    ]

    (acl,) = episode["bucket_made_public_acl"]
    grants = acl["requestParameters"]["AccessControlPolicy"]["AccessControlList"]["Grant"]
    assert {"URI": "http://acs.amazonaws.com/groups/global/AllUsers"}.items() <= grants[1]["Grantee"].items()
    (policy,) = episode["bucket_made_public_policy"]
    assert policy["requestParameters"]["bucketPolicy"]["Statement"][0]["Principal"] == "*"

    assert {r["sourceIPAddress"] for r in episode["suspicious_ip_activity"]} == {geo.BOTNET_IP}


def test_look_alikes_are_what_they_claim(small_manifest, small_events):
    by_id = {r["eventID"]: r for r in small_events}
    groups = {g["name"]: [by_id[i] for i in g["event_ids"]] for g in small_manifest["must_not_fire"]}
    (scp,) = groups["organizations_create_policy"]
    assert (scp["eventSource"], scp["eventName"]) == ("organizations.amazonaws.com", "CreatePolicy")
    assert all(r["readOnly"] for r in groups["read_only_describe_calls"])
    for record in groups.get("weekly_s3_cleanup", []):  # only when a Sunday falls in the window
        assert (record["eventName"], record["managementEvent"]) == ("DeleteObject", False)
    daily = groups["autoscaling_daily_launches"]
    per_day = Counter((r["eventName"], epoch(r) // 86400) for r in daily)
    assert max(per_day.values()) <= 3 and {r["awsRegion"] for r in daily} == {"us-east-1"}


def test_quiet_scenario_has_no_episodes():
    quiet = build_scenario("quiet", seed=1, end=END, **SMALL)
    manifest = quiet.manifest()
    assert manifest["episodes"] == []
    assert set(manifest["events_by_region"]) <= set(ORG_REGIONS)
    assert manifest["must_not_fire"]  # the ordinary things that must stay quiet


def test_a_manifest_file_rebuilds_the_same_scenario(small_events, small_manifest, tmp_path):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(small_manifest))
    rebuilt = build_scenario(str(path))
    assert rebuilt.end_at == END and rebuilt.seed == 7
    assert [r["eventID"] for r in rebuilt.iter_events()] == [r["eventID"] for r in small_events]
    with pytest.raises(ValueError, match="Unknown scenario"):
        build_scenario("noisy")


# --- files --------------------------------------------------------------------------------------
def test_written_files_parse_and_hold_every_event(small, small_events, small_manifest, tmp_path):
    written = write_scenario_files(small, tmp_path)
    names = {p.name for p in written}
    assert names == {"events.json.gz", "trail", "manifest.json", "directory.csv", "ip_ranges.json"} | {
        "threat_feed_tor.txt",
        "threat_feed_botnet.txt",
    }
    with gzip.open(tmp_path / "events.json.gz", "rt") as handle:
        assert json.load(handle)["Records"] == small_events

    seen = []
    for path in sorted((tmp_path / "trail").rglob("*")):
        if path.is_dir():
            continue
        key = path.relative_to(tmp_path / "trail").as_posix()
        match = TRAIL_KEY.match(key)
        assert match, key
        with gzip.open(path, "rt") as handle:
            records = json.load(handle)["Records"]
        assert records and {r["awsRegion"] for r in records} == {match["region"]}
        times = [epoch(r) for r in records]
        delivered = datetime.strptime(match["stamp"], "%Y%m%dT%H%MZ").replace(tzinfo=UTC).timestamp()
        assert max(times) - min(times) <= 15 * 60 and delivered >= max(times) - 60
        assert match["day"] == datetime.fromtimestamp(delivered, UTC).strftime("%Y/%m/%d")
        seen.extend(r["eventID"] for r in records)
    assert sorted(seen) == sorted(r["eventID"] for r in small_events)

    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["episodes"] == small_manifest["episodes"]
    assert manifest["trail_files"] == len({*(tmp_path / "trail").rglob("*.json.gz")})

    rows = list(csv.DictReader((tmp_path / "directory.csv").open()))
    assert list(rows[0]) == ["email", "display_name", "status", "terminated_at"]
    assert {r["status"] for r in rows} == {"active", "terminated"}
    assert any(r["email"] == "eunji.han@hanbit.example" and r["terminated_at"] for r in rows)

    for feed, attacker in (
        ("threat_feed_tor.txt", geo.TOR_EXIT_IP),
        ("threat_feed_botnet.txt", geo.BOTNET_IP),
    ):
        lines = (tmp_path / feed).read_text().splitlines()
        assert lines[0].startswith("#") and attacker in lines
        assert all(line.startswith("#") or ipaddress.ip_address(line) for line in lines)

    ranges = json.loads((tmp_path / "ip_ranges.json").read_text())["ranges"]
    assert {r["category"] for r in ranges} >= {"corporate", "vpn", "risky"}
    office = next(r for r in ranges if r["category"] == "corporate")
    used = {r["sourceIPAddress"] for r in small_events}
    assert any(
        ipaddress.ip_address(ip) in ipaddress.ip_network(office["cidrs"][0]) for ip in used if ip[0].isdigit()
    )


def test_aws_scenario_command_writes_the_files(tmp_path):
    out = StringIO()
    call_command(
        "aws_scenario", "quiet", "--out", str(tmp_path), "--principals", "22", "--days", "2",
        "--end", "2025-03-10T12:00:00Z", "--seed", "4", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "events.json.gz" in text and "manifest.json" in text and "events (" in text
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert (
        manifest["scenario"] == "quiet"
        and manifest["seed"] == 4
        and manifest["end"] == "2025-03-10T12:00:00Z"
    )
    with pytest.raises(CommandError):
        call_command("aws_scenario", "nope", "--out", str(tmp_path), stdout=StringIO())


def test_scale_mode_streams_in_bounded_memory(tmp_path):
    """Peak memory of the scale mode does not grow with the number of events (10x more here)."""
    script = (
        "import django, resource, sys\n"
        "django.setup()\n"
        "from django.core.management import call_command\n"
        "call_command('aws_scenario', 'scale', '--out', sys.argv[1], '--events', sys.argv[2],"
        " '--end', '2025-03-10T12:00:00Z', stdout=open('/dev/null', 'w'))\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "defender.settings", "PYTHONPATH": str(ROOT)}
    runs = {
        count: subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path / str(count)), str(count)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for count in (20_000, 200_000)
    }
    peak_kb = {count: int(run.communicate(timeout=300)[0].split()[-1]) for count, run in runs.items()}
    manifest = json.loads((tmp_path / "200000" / "manifest.json").read_text())
    assert manifest["event_count"] == 200_000 and manifest["episodes"]
    # 180,000 more records would be several hundred megabytes if they were held.
    assert peak_kb[200_000] - peak_kb[20_000] < 40 * 1024, peak_kb


# --- the emulator -------------------------------------------------------------------------------
@pytest.fixture
def moto_endpoint():
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    _reset(endpoint)
    yield endpoint
    _reset(endpoint)
    server.stop()


def _reset(endpoint: str) -> None:
    """moto's backends are global to the process: leave no account behind for other tests."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")).read()


def test_apply_scenario_builds_the_account_in_the_emulator(moto_endpoint, tmp_path):
    from localaws.scenario import apply_scenario

    scenario = build_scenario("demo", seed=5, end=END, principals=22, days=2)
    batches: list[list[dict]] = []
    applied = apply_scenario(
        scenario, endpoint_url=moto_endpoint, add_events=lambda b: batches.append(list(b)), out_dir=tmp_path
    )
    testing = aws.AwsCredentials(access_key_id="testing", secret_access_key="testing")

    def client(service, region="us-east-1", credentials=testing):
        return aws.client(service, credentials, region=region, endpoint_url=moto_endpoint, max_attempts=2)

    # Buckets: one public by ACL, one public by policy, the rest private.
    s3 = client("s3")
    public = {
        "http://acs.amazonaws.com/groups/global/AllUsers",
        "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
    }
    for bucket in scenario.spec.buckets:
        grants = s3.get_bucket_acl(Bucket=bucket.name)["Grants"]
        acl_public = any(g["Grantee"].get("URI") in public for g in grants)
        assert acl_public == (bucket.access == "public-acl"), bucket.name
        try:
            statements = json.loads(s3.get_bucket_policy(Bucket=bucket.name)["Policy"])["Statement"]
        except s3.exceptions.ClientError:
            statements = []
        assert any(s.get("Principal") == "*" for s in statements) == (bucket.access == "public-policy")
        assert s3.get_bucket_location(Bucket=bucket.name)["LocationConstraint"] in {None, bucket.region}

    # IAM users with their email tags, console passwords and keys; the connector users.
    iam = client("iam")
    users = {u["UserName"] for u in iam.list_users()["Users"]}
    people = [p for p in scenario.cast if p.type == "IAMUser"]
    assert {p.name for p in people} | {"defender-connector", "defender-wizard", "defender-readonly"} <= users
    for person in people:
        tags = {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=person.name)["Tags"]}
        assert tags["email"] == person.email
        assert bool(iam.list_access_keys(UserName=person.name)["AccessKeyMetadata"]) == person.cli
        if person.console:
            assert iam.get_login_profile(UserName=person.name)["LoginProfile"]["UserName"] == person.name

    seed_policy = _seed_policy() or policy_document(GOVERNANCE_ACTIONS)
    keys_by_user = {}
    for user in ("defender-connector", "defender-wizard", "defender-readonly"):
        (attached,) = iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
        policy = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]
        document = iam.get_policy_version(PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"])[
            "PolicyVersion"
        ]["Document"]
        document = json.loads(document) if isinstance(document, str) else document
        actions = set(document["Statement"][0]["Action"])
        if user == "defender-readonly":
            assert (
                "s3:PutBucketAcl" not in actions and {"cloudtrail:LookupEvents", "s3:GetBucketAcl"} <= actions
            )
        else:
            assert document == seed_policy
        path = applied.credentials[user]
        text = path.read_text()
        assert text.splitlines()[0] == "User name,Password,Access key ID,Secret access key,Console login link"
        key_id, secret = parse_access_key_csv(path.read_bytes())
        assert [k["AccessKeyId"] for k in iam.list_access_keys(UserName=user)["AccessKeyMetadata"]] == [
            key_id
        ]
        keys_by_user[user] = key_id
        own = aws.AwsCredentials(access_key_id=key_id, secret_access_key=secret)
        assert client("sts", credentials=own).get_caller_identity()["Arn"].endswith(f":user/{user}")

    # Instances in two regions, and a multi-region trail.
    for region, layout in INSTANCE_LAYOUT.items():
        reservations = client("ec2", region).describe_instances()["Reservations"]
        assert sum(len(r["Instances"]) for r in reservations) == len(layout)
    (trail,) = client("cloudtrail").describe_trails()["trailList"]
    assert trail["IsMultiRegionTrail"] and trail["S3BucketName"] == scenario.spec.trail_bucket
    assert client("cloudtrail").get_trail_status(Name=trail["Name"])["IsLogging"]

    # The events: as trail files in the bucket, and every management event to the LookupEvents store.
    events = list(scenario.iter_events())
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=scenario.spec.trail_bucket, Prefix="AWSLogs/"
        )
        for o in page.get("Contents", [])
    ]
    assert len(keys) == applied.trail_files and all(TRAIL_KEY.match(key) for key in keys)
    delivered = []
    for key in keys:
        body = s3.get_object(Bucket=scenario.spec.trail_bucket, Key=key)["Body"].read()
        delivered.extend(r["eventID"] for r in json.loads(gzip.decompress(body))["Records"])
    assert sorted(delivered) == sorted(r["eventID"] for r in events)
    fed = [r["eventID"] for batch in batches for r in batch]
    assert fed == [r["eventID"] for r in events if r["managementEvent"]]
    assert all(0 < len(batch) <= 1000 for batch in batches) and applied.lookup_events == len(fed)

    summary = "\n".join(applied.summary())
    assert "defender-connector" in summary and "hanbit-press-kit (us-east-1, public-acl)" in summary
    assert (tmp_path / "manifest.json").is_file() and (tmp_path / "directory.csv").is_file()

    # Applying again to the same emulator is not an error; the connector keys are replaced.
    again = apply_scenario(
        scenario, endpoint_url=moto_endpoint, add_events=lambda batch: None, out_dir=tmp_path
    )
    replaced, _ = parse_access_key_csv(again.credentials["defender-connector"].read_bytes())
    assert replaced != keys_by_user["defender-connector"]
    assert [
        k["AccessKeyId"] for k in iam.list_access_keys(UserName="defender-connector")["AccessKeyMetadata"]
    ] == [replaced]


def _seed_policy() -> dict | None:
    """The policy JSON of the seed document, when the shared folder is there."""
    if not SEED_DOCUMENT.is_file():
        return None
    text = SEED_DOCUMENT.read_text()
    policy, _ = json.JSONDecoder().raw_decode(text, text.index('{\n      "Version"'))
    return policy
