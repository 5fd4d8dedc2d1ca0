"""The demo scenario through the real pipeline: what the activity log holds is exactly what the
account's CloudTrail holds, region by region, with geo and IP categories filled."""

import pytest

from connectors.credentials_csv import parse_access_key_csv
from connectors.ingestion.lookup_events import ingest_region
from connectors.models import Activity, Connector
from connectors.services import ConnectorSettings, connector_save
from localaws.scenario import apply_scenario, build_scenario

pytestmark = pytest.mark.django_db

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def test_demo_scenario_is_ingested_exactly(
    aws, admin, tmp_path, settings, django_capture_on_commit_callbacks
):
    from django.core.management import call_command

    scenario = build_scenario("demo", principals=10, days=9)
    apply_scenario(scenario, endpoint_url=aws.endpoint_url, add_events=aws.store.add, out_dir=tmp_path)
    call_command("load_ip_ranges", str(tmp_path / "ip_ranges.json"), verbosity=0)
    call_command(
        "load_threat_feed",
        "Tor exit nodes",
        str(tmp_path / "threat_feed_tor.txt"),
        "--kind",
        "tor_exit_nodes",
        verbosity=0,
    )
    key_id, secret = parse_access_key_csv((tmp_path / "defender-connector_credentials.csv").read_bytes())
    # The pacing under AWS's rate is tested elsewhere; here, the numbers.
    aws.throttle.limit = 1000
    settings.LOOKUP_EVENTS_PER_SECOND = 1000
    aws.enable_auth()
    with django_capture_on_commit_callbacks():
        connector = connector_save(
            config=ConnectorSettings(
                name="Demo", access_key_id=key_id, secret_access_key=secret, regions=REGIONS, history_days=30
            ),
            by=admin,
        )
    for region in REGIONS:
        ingest_region(connector_id=connector.pk, region=region)
    for region in REGIONS:
        assert Activity.objects.filter(region=region).count() == aws.store.count(region=region), region
    assert Connector.objects.get(pk=connector.pk).events_ingested == aws.store.count()
    tor = Activity.objects.filter(ip_tags__icontains="Tor exit node")
    assert tor.exists()
    assert (
        Activity.objects.exclude(ip_address=None).filter(country="").count() < Activity.objects.count() / 20
    )
    assert Activity.objects.filter(ip_category="corporate").exists()
