"""The anomaly detectors end to end: ``scan_cloudtrail`` over generated accounts (localaws.scenario).

On the demo account every anomaly an episode expects (of the detectors registered) fires with that
episode's principal, and none fires on the look-alikes' events; on the quiet account no anomaly fires.
Reduced accounts (fewer principals, 11 days) keep this fast. 11, not 7 of learning plus the attack day:
some principals work weekdays only, and whatever the day of the week the test runs on, each must have
been seen for the full learning period before its episode (with 9 days, runs on Sundays and Mondays
missed the impossible travel).
"""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from localaws.scenario import build_scenario, write_scenario_files
from policies.engine.detectors.registry import all_detectors

PRINCIPALS = 16
DAYS = 11


def scan(kind: str, out: Path) -> tuple[dict, list[dict]]:
    write_scenario_files(build_scenario(kind, principals=PRINCIPALS, days=DAYS), out)
    stdout = StringIO()
    call_command(
        "scan_cloudtrail",
        str(out / "events.json.gz"),
        "--ip-ranges",
        str(out / "ip_ranges.json"),
        "--threat-feed",
        f"tor_exit_nodes={out / 'threat_feed_tor.txt'}",
        "--threat-feed",
        f"botnet={out / 'threat_feed_botnet.txt'}",
        "--directory",
        str(out / "directory.csv"),
        stdout=stdout,
        stderr=StringIO(),
    )
    lines = [json.loads(line) for line in stdout.getvalue().splitlines() if line.strip()]
    manifest = json.loads((out / "manifest.json").read_text())
    return manifest, [line for line in lines if line["policy"].startswith("anomaly_")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return scan("demo", tmp_path_factory.mktemp("demo"))


def test_every_expected_anomaly_fires_with_the_episodes_principal(demo):
    manifest, alerts = demo
    implemented = set(all_detectors())
    fired = {(a["policy"], a["principal"]) for a in alerts}
    missing = [
        (episode["name"], key, episode["principal"])
        for episode in manifest["episodes"]
        for key in episode["expect"]
        if key in implemented and (key, episode["principal"]) not in fired
    ]
    assert missing == []
    expected = {key for episode in manifest["episodes"] for key in episode["expect"]} & implemented
    assert expected >= {
        "anomaly_multiple_failed_logins",
        "anomaly_anonymous_ip",
        "anomaly_suspicious_ip",
        "anomaly_mass_vm_deletion",
        "anomaly_mass_vm_creation",
        "anomaly_impossible_travel",
        "anomaly_infrequent_country",
        "anomaly_unusual_region",
        "anomaly_terminated_user",
    }


def test_look_alikes_do_not_fire(demo):
    manifest, alerts = demo
    wrong = [
        (look_alike["name"], alert["policy"], alert["title"])
        for look_alike in manifest["must_not_fire"]
        for alert in alerts
        if alert["policy"] in look_alike["keys"] and set(alert["event_ids"]) & set(look_alike["event_ids"])
    ]
    assert wrong == []


def test_one_alert_per_episode(demo):
    _, alerts = demo
    per_principal = {}
    for alert in alerts:
        per_principal.setdefault((alert["policy"], alert["principal"]), []).append(alert["title"])
    assert {key: titles for key, titles in per_principal.items() if len(titles) > 1} == {}


def test_quiet_account_raises_no_anomaly(tmp_path):
    _, alerts = scan("quiet", tmp_path)
    assert [(a["policy"], a["principal"], a["title"]) for a in alerts] == []
