"""Schema-driven fuzzing of /api/v1/: schemathesis (its `st` command, as CI tooling would run it) reads
/api/schema/ from the app on a live server and sends generated requests, valid and invalid, for every
operation with an administrator's API token. No answer may be a 5xx, and every answer's status and
body must be the ones the schema documents."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from alerts.models import Alert
from connectors.ingestion.store import store_records
from connectors.models import Connector
from defender.api_auth import api_token_create
from defender.ipintel.services import iprange_save
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
# Examples per operation, valid and invalid ones alike: enough to reach every documented status, few
# enough for about two minutes on two cores. (The coverage phase, every boundary value of every
# parameter, takes several times longer: run `st run` with --phases=coverage by hand for that.)
MAX_EXAMPLES = 25
ST = Path(sys.executable).with_name("st")


def seed(admin) -> None:
    """One of each record, so lists and serializers have real rows to show."""
    connector = Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )
    policies_install_builtin()
    Policy.objects.update(enabled=False)  # nothing may fire while the fuzzer writes
    now = datetime.now(UTC).replace(microsecond=0)
    store_records(
        connector=connector,
        records=[record("iam_user_api_call", at=now - timedelta(minutes=5), event_id="fuzz-1")],
        source="test",
    )
    Alert.objects.create(
        title="Fuzzed alert",
        severity="high",
        policy=Policy.objects.order_by("pk").first(),
        connector=connector,
        principal="arn:aws:iam::123456789012:user/alice",
        principal_name="alice",
        first_activity_at=now - timedelta(minutes=5),
        last_activity_at=now,
        dedup_key="fuzz",
    )
    iprange_save(iprange=None, name="Head office", cidrs=["203.0.113.0/24"], category="corporate", by=admin)


def test_api_answers_as_documented(aws, admin, live_server, settings, tmp_path):
    # The fuzzer sends thousands of requests as one user: lift the rate limit for this test only.
    settings.REST_FRAMEWORK = {
        **django_settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "1000000/minute", "anon": "1000000/minute"},
    }
    seed(admin)
    token = api_token_create(user=admin, name="schemathesis", expires_in_days=30).secret
    run = subprocess.run(
        [
            str(ST),
            "run",
            f"{live_server.url}/api/schema/",
            f"--url={live_server.url}",
            f"--header=Authorization: Bearer {token}",
            f"--checks={CHECKS}",
            f"--max-examples={MAX_EXAMPLES}",
            "--phases=examples,fuzzing",
            "--generation-deterministic",
            "--workers=1",
            "--no-color",
            f"--report-dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-5000:]
