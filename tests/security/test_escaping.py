"""CloudTrail fields are written by whoever calls AWS: HTML or script in a user agent, a request
parameter or a bucket name is shown as text on every page, and CSV exports neutralize cells a
spreadsheet would run as formulas."""

import csv
import io

import pytest
from django.urls import reverse

from connectors.ingestion.store import store_records
from connectors.models import Activity, Connector
from tests.alerts.test_triage import make_alert
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db

SCRIPT = '<script>alert("ua")</script>'
IMG = '"><img src=x onerror=alert(1)>'
BUCKET = "<svg onload=alert(2)>"
RAW_PAYLOADS = [SCRIPT.encode(), b"<img src=x onerror", b"<svg onload"]
FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def hostile():
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    event = record("s3_put_bucket_acl", userAgent=SCRIPT)
    event["requestParameters"]["bucketName"] = BUCKET
    event["requestParameters"]["Host"] = IMG
    event["userIdentity"]["arn"] = f"arn:aws:iam::123456789012:user/{IMG}"
    event["userIdentity"]["userName"] = IMG
    formula_events = [record("iam_user_api_call", userAgent=formula) for formula in FORMULAS]
    stored = store_records(connector=connector, records=[event, *formula_events], source="test")
    assert len(stored.new_ids) == 1 + len(FORMULAS)
    activity = Activity.objects.get(event_id=event["eventID"])
    alert = make_alert(
        principal=activity.principal, connector=connector, title=f"Bucket {BUCKET} made public"
    )
    alert.activities.add(activity)
    return activity, alert


def assert_escaped(body: bytes) -> None:
    for payload in RAW_PAYLOADS:
        assert payload not in body, payload
    assert b"&lt;script&gt;" in body or b"&lt;svg" in body or b"&lt;img" in body, (
        "the payload was not shown at all"
    )


@pytest.mark.parametrize(
    "page",
    ["activity log", "activity drawer", "alert queue", "alert page", "dashboard"],
)
def test_hostile_fields_are_rendered_as_text(client_for, reader, hostile, page):
    activity, alert = hostile
    url = {
        "activity log": reverse("connectors:activity"),
        "activity drawer": reverse("connectors:activity_drawer", args=[activity.pk]),
        "alert queue": reverse("alerts:list"),
        "alert page": reverse("alerts:detail", args=[alert.pk]),
        "dashboard": reverse("home"),
    }[page]
    response = client_for(reader).get(url)
    assert response.status_code == 200
    assert_escaped(response.content)


def test_raw_drawer_shows_the_raw_event_escaped(client_for, reader, hostile):
    activity, _ = hostile
    body = client_for(reader).get(reverse("connectors:activity_drawer", args=[activity.pk])).content
    assert b"&lt;svg onload=alert(2)&gt;" in body  # the bucket name, from the raw JSON and the fields
    assert_escaped(body)


def test_activity_csv_export_neutralizes_formulas(client_for, reader, hostile):
    response = client_for(reader).get(reverse("connectors:activity_export"))
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(rows) == 1 + len(FORMULAS)
    cells = [cell for row in rows for cell in row.values()]
    assert not [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)]
    agents = {row["user_agent"] for row in rows}
    assert {"'" + formula for formula in FORMULAS} <= agents
    assert SCRIPT in agents  # CSV is not HTML: the text itself is kept, only formulas are defused
