"""scan_cloudtrail: the engine over exported logs, printing one line per alert and touching no data."""

import gzip
import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from policies.engine.detectors.registry import Detector, get_detector, register_detector, unregister_detector
from tests.policies.activities import RISKY_IP, T0, call, console_login, minutes

ROOT = Path(__file__).resolve().parents[2]


def scan(*args) -> tuple[list[str], list[str]]:
    out, err = StringIO(), StringIO()
    call_command("scan_cloudtrail", *[str(a) for a in args], stdout=out, stderr=err)
    return out.getvalue().splitlines(), err.getvalue().splitlines()


@pytest.fixture
def trail(tmp_path):
    """A JSON-lines export with alerts, noise and two malformed records."""
    stop = call("StopLogging", "cloudtrail.amazonaws.com", at=T0 + minutes(5), error="AccessDenied")
    login = console_login(at=T0 + minutes(1))
    acl = call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl", at=T0 + minutes(3))
    noise = [
        call("DescribeInstances", "ec2.amazonaws.com", read_only=True),
        call("CreatePolicy", "organizations.amazonaws.com", at=T0 + minutes(2)),
    ]
    lines = [json.dumps(e) for e in [stop, *noise, login]]
    lines.insert(2, "{not json")
    lines.append(json.dumps({"eventName": "StopLogging"}))
    lines.append("")
    lines.append(json.dumps({"Records": [acl]}))
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, {"stop": stop, "login": login, "acl": acl}


@pytest.mark.django_db
def test_prints_one_json_line_per_alert_sorted_and_touches_no_data(trail, django_assert_num_queries):
    path, events = trail
    with django_assert_num_queries(0):
        out, err = scan(path)
    assert [json.loads(line) for line in out] == [
        {
            "policy": "aws_console_failed_logins",
            "title": "Management console sign-in failures: ConsoleLogin by dave (failed)",
            "severity": "medium",
            "principal": "arn:aws:iam::123456789012:user/dave",
            "event_ids": [events["login"]["eventID"]],
            "first_seen": "2026-11-28T10:01:00Z",
            "last_seen": "2026-11-28T10:01:00Z",
        },
        {
            "policy": "aws_s3_config_changes",
            "title": "S3 configuration changes: PutBucketAcl by alice",
            "severity": "medium",
            "principal": "arn:aws:iam::123456789012:user/alice",
            "event_ids": [events["acl"]["eventID"]],
            "first_seen": "2026-11-28T10:03:00Z",
            "last_seen": "2026-11-28T10:03:00Z",
        },
        {
            "policy": "aws_cloudtrail_config_changes",
            "title": "CloudTrail configuration changes: StopLogging by alice (failed)",
            "severity": "high",
            "principal": "arn:aws:iam::123456789012:user/alice",
            "event_ids": [events["stop"]["eventID"]],
            "first_seen": "2026-11-28T10:05:00Z",
            "last_seen": "2026-11-28T10:05:00Z",
        },
    ]
    assert err[0].startswith(f"{path}:3: not valid JSON")
    assert err[1] == f"{path}:6: eventID is missing"
    assert err[-1] == "5 activities scanned: 3 alerts, 2 malformed records skipped."


@pytest.mark.django_db
def test_reads_gzip_records_files_and_dedupes_events_across_files(tmp_path, trail, django_assert_num_queries):
    path, events = trail
    packed = tmp_path / "123456789012_CloudTrail_us-east-1_20261128T1000Z.json.gz"
    packed.write_bytes(gzip.compress(json.dumps({"Records": list(events.values())}).encode()))
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps({"Records": [{"eventID": "x", "eventTime": "soon"}]}, indent=2))
    with django_assert_num_queries(0):
        out, err = scan(packed, path, pretty)
    assert len(out) == 3
    assert f"{pretty}:1: eventTime 'soon' is not a time" in err


def test_policy_option_and_table_format(trail):
    path, _ = trail
    out, _ = scan(path, "--policy", "aws_cloudtrail_config_changes", "--policy", "aws_vpn_changes")
    assert [json.loads(line)["policy"] for line in out] == ["aws_cloudtrail_config_changes"]
    table, _ = scan(path, "--format", "table")
    assert table[0].split() == [
        "FIRST",
        "SEEN",
        "LAST",
        "SEEN",
        "SEVERITY",
        "POLICY",
        "PRINCIPAL",
        "EVENTS",
        "TITLE",
    ]
    assert table[1].startswith(
        "2026-11-28T10:01:00Z  2026-11-28T10:01:00Z  medium    aws_console_failed_logins"
    )
    assert table[1].index("aws_console_failed_logins") == table[3].index("aws_cloudtrail_config_changes")
    with pytest.raises(CommandError, match="Unknown policy template: aws_nope"):
        scan(path, "--policy", "aws_nope")


def test_risky_addresses_are_unknown_to_a_scan(tmp_path):
    """IP ranges and feeds live in the database, which a scan does not read: no address is risky."""
    path = tmp_path / "risky.json"
    path.write_text(json.dumps([console_login(failed=False, ip=RISKY_IP)]))
    assert scan(path)[0] == []


@pytest.fixture
def failed_login_detector():
    real = get_detector("anomaly_multiple_failed_logins")  # steps aside for the test's detector
    unregister_detector("anomaly_multiple_failed_logins")

    @register_detector
    class Bursts(Detector):
        key = "anomaly_multiple_failed_logins"
        label = "Multiple failed login attempts"

        def observe(self, activities, state):
            failures = [a for a in activities if a["console_login"] == "Failure"]
            state.setdefault("first", str(activities[0]["event_time"]))
            if len(failures) < self.settings["count"]:
                return []
            return [self.finding(activities=failures, title=f"{len(failures)} failed sign-ins")]

    yield Bursts
    unregister_detector(Bursts.key)
    if real is not None:
        register_detector(real)


def test_runs_registered_anomaly_detectors(tmp_path, failed_login_detector):
    path = tmp_path / "logins.json"
    path.write_text(json.dumps([console_login(at=T0 + minutes(i)) for i in range(5)]))
    out, _ = scan(path, "--policy", "anomaly_multiple_failed_logins")
    (line,) = [json.loads(line) for line in out]
    assert line["policy"] == "anomaly_multiple_failed_logins"
    assert len(line["event_ids"]) == 5
    assert line["first_seen"] == "2026-11-28T10:00:00Z" and line["last_seen"] == "2026-11-28T10:04:00Z"


def test_exit_code_is_zero_with_malformed_records(trail, tmp_path):
    path, _ = trail
    result = subprocess.run(
        [sys.executable, "manage.py", "scan_cloudtrail", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert "malformed records skipped" in result.stderr


@pytest.mark.django_db
def test_scan_with_ip_ranges_from_a_file_fires_the_risky_ip_template(tmp_path, django_assert_num_queries):
    import json

    from django.core.management import call_command

    from tests.cloudtrail import record

    login = record("iam_user_console_login_failure", event_id="risky-login", sourceIPAddress="203.0.113.77")
    login["responseElements"] = {"ConsoleLogin": "Success"}
    login.pop("errorMessage", None)
    events = tmp_path / "events.json"
    events.write_text(json.dumps({"Records": [login]}))
    ranges = tmp_path / "ranges.json"
    ranges.write_text(json.dumps([{"name": "Known bad", "cidrs": ["203.0.113.0/24"], "category": "risky"}]))
    out = tmp_path / "out.jsonl"
    with django_assert_num_queries(0), out.open("w") as handle:
        call_command(
            "scan_cloudtrail",
            str(events),
            "--ip-ranges",
            str(ranges),
            "--policy",
            "aws_risky_ip_logon",
            stdout=handle,
        )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(a["policy"], a["event_ids"]) for a in lines] == [("aws_risky_ip_logon", ["risky-login"])]
