"""Realistic CloudTrail records for tests, built from the recorded fixtures in tests/fixtures/cloudtrail/."""

import copy
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "cloudtrail"


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def record(
    name: str = "iam_user_api_call",
    *,
    at: datetime | None = None,
    region: str | None = None,
    event_id: str | None = None,
    **changes,
) -> dict:
    """A copy of fixture ``name`` with a new event ID, and the time, region and top-level keys given."""
    event = copy.deepcopy(fixture(name))
    event["eventID"] = event_id or str(uuid.uuid4())
    event["eventTime"] = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    if region:
        event["awsRegion"] = region
    event.update(changes)
    return event


def series(
    count: int,
    *,
    end: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
    region: str = "us-east-1",
    name: str = "iam_user_api_call",
) -> list[dict]:
    """``count`` records one ``step`` apart, the newest at ``end``."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    return [
        record(name, at=end - step * i, region=region, event_id=f"{region}-{i:06d}") for i in range(count)
    ]
