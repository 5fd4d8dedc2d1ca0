"""Journey: triage a high-severity alert from Home, bulk-dismiss false positives, and a reader who
can look but not change anything, in a real browser."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from alerts.models import Alert
from connectors.ingestion.store import store_records
from connectors.models import Connector
from policies.models import Policy
from tests.cloudtrail import record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TITLE = "Impossible travel: alice signed in from Paris and Sydney"


@pytest.fixture
def alerts(db):
    connector = Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )
    # The alerts are made here, not by detection: no policy may fire on the stored activities.
    Policy.objects.update(enabled=False)
    policy = Policy.objects.create(name="Travel between countries (journey)", severity="high", enabled=False)
    noisy = Policy.objects.create(name="Security group changes (journey)", severity="medium", enabled=False)
    now = datetime.now(UTC).replace(microsecond=0)
    stored = store_records(
        connector=connector,
        records=[
            record("iam_user_api_call", at=now - timedelta(minutes=90), event_id="paris"),
            record("iam_user_api_call", at=now - timedelta(minutes=5), event_id="sydney"),
        ],
        source="test",
    )
    activity_ids = stored.new_ids
    principal = "arn:aws:iam::123456789012:user/alice"

    def make(title: str, severity: str, pol: Policy, key: str, **fields) -> Alert:
        return Alert.objects.create(
            title=title,
            severity=severity,
            policy=pol,
            type=pol.type,
            connector=connector,
            principal=principal,
            principal_name="alice",
            first_activity_at=now - timedelta(minutes=90),
            last_activity_at=now - timedelta(minutes=5),
            dedup_key=key,
            **fields,
        )

    travel = make(
        TITLE,
        "high",
        policy,
        "travel",
        description="alice used AWS from Paris, France and 85 minutes later from Sydney, Australia: "
        "16,960 km apart, faster than any flight.",
        evidence={
            "from": {
                "city": "Paris",
                "country": "FR",
                "source_ip": "203.0.113.10",
                "event_time": "09:00 UTC",
            },
            "to": {"city": "Sydney", "country": "AU", "source_ip": "198.51.100.7", "event_time": "10:25 UTC"},
            "distance_km": 16960,
            "minutes": 85,
            "speed_kmh": 11972,
        },
        ips=["203.0.113.10", "198.51.100.7"],
        countries=["FR", "AU"],
        mitre_tactic="Initial access",
        activity_count=2,
    )
    travel.activities.add(*activity_ids)
    make("Security group opened to the internet (sg-1)", "medium", noisy, "sg-1")
    make("Security group opened to the internet (sg-2)", "medium", noisy, "sg-2")
    make("Unusual region used: ap-southeast-2", "low", noisy, "region")
    return travel


CANVAS_INK = """() => {
  const canvas = document.getElementById("alerts-over-time-chart");
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
  return painted;
}"""


def test_triage_from_home_bulk_dismiss_and_reader(page, sign_in, screenshot, operator, reader, alerts):
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(operator)

    # Home: the chart of the last 30 days is drawn from the page's data, stacked by severity.
    expect(page.locator("#alerts-over-time-chart")).to_have_attribute("data-drawn", "true")
    totals = page.evaluate(
        "Chart.getChart('alerts-over-time-chart').data.datasets.map(d => d.data.reduce((a, b) => a + b, 0))"
    )
    assert totals == [1, 2, 1, 0]
    assert page.evaluate(CANVAS_INK) > 1000
    triage = page.locator("section").filter(has=page.get_by_role("heading", name="Alerts to triage first"))
    expect(triage.locator("tbody a").first).to_have_text(TITLE)
    expect(page.locator("section").filter(has_text="Top users")).to_contain_text("alice")
    screenshot("dashboard")
    assert errors == []

    # The high-severity count opens the queue filtered to it.
    page.get_by_role("link", name="1 open high severity alert", exact=True).click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    assert "severity=high" in page.url
    queue_rows = page.locator("table.alert-table tbody tr")
    expect(queue_rows).to_have_count(1)
    expect(page.locator(".tabs [aria-current=page]")).to_contain_text("Open and in progress")
    screenshot("alert-queue-high")
    queue_rows.get_by_role("link", name=TITLE).click()

    # The explanation: what happened, both places, distance, time and speed.
    expect(page.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    evidence = page.locator("section").filter(has=page.get_by_role("heading", name="Evidence"))
    expect(evidence).to_contain_text("Paris, FR")
    expect(evidence).to_contain_text("Sydney, AU")
    expect(evidence).to_contain_text("16,960 km")
    expect(evidence).to_contain_text("85 minutes")
    expect(evidence).to_contain_text("11,972 km/h")
    expect(page.get_by_text("faster than any flight")).to_be_visible()
    principal = page.locator("section").filter(has=page.get_by_role("heading", name="User, last 30 days"))
    expect(principal).to_contain_text("Security group opened to the internet (sg-1)")
    expect(page.get_by_role("heading", name="Governance")).to_be_visible()
    expect(page.get_by_role("link", name="Adjust policy")).to_have_attribute(
        "href", f"/policies/{alerts.policy_id}/"
    )
    screenshot("alert-page")

    # A related activity opens the activity drawer.
    page.locator("tr[data-row-open]").first.click()
    drawer = page.get_by_role("dialog")
    expect(drawer).to_contain_text("Raw event")
    screenshot("alert-activity-drawer")
    drawer.get_by_role("button", name="Close").click()
    expect(drawer).to_be_hidden()

    page.get_by_role("button", name="Assign to me").click()
    expect(page.get_by_text("The alert is assigned to you.")).to_be_visible()
    expect(page.locator(".page-subtitle")).to_contain_text("Assigned to oscar-operator")
    expect(page.get_by_role("button", name="Assign to me")).to_have_count(0)

    page.locator("#history").get_by_role("textbox", name="Comment").fill(
        "Alice is at home in Paris; the Sydney session is not hers."
    )
    page.get_by_role("button", name="Comment", exact=True).click()
    history = page.locator("#history")
    expect(history).to_contain_text("Alice is at home in Paris; the Sydney session is not hers.")
    expect(history).to_contain_text("Assigned to oscar-operator.")

    page.get_by_role("button", name="Resolve").click()
    dialog = page.get_by_role("dialog", name="Resolve alert")
    expect(dialog).to_be_visible()
    dialog.get_by_label("True positive", exact=True).check()
    screenshot("alert-resolve-dialog")
    dialog.get_by_role("button", name="Resolve").click()  # the comment is required: nothing is sent
    expect(dialog).to_be_visible()
    dialog.get_by_label("Comment").fill("Compromised access key; key disabled and user told.")
    dialog.get_by_role("button", name="Resolve").click()
    expect(page.get_by_text("Resolved as true positive.")).to_be_visible()
    expect(page.locator(".page-subtitle")).to_contain_text("Resolved")
    expect(history).to_contain_text("resolved the alert as true positive")
    expect(history).to_contain_text("Compromised access key")
    expect(page.get_by_role("button", name="Reopen")).to_be_visible()
    screenshot("alert-resolved")
    alerts.refresh_from_db()
    assert (alerts.status, alerts.classification, alerts.assigned_to) == (
        "resolved",
        "true_positive",
        operator,
    )

    # The queue: bulk-dismiss the two security group alerts as false positives.
    page.get_by_role("link", name="All alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    dismiss = page.get_by_role("button", name="Dismiss as false positive")
    expect(dismiss).to_be_disabled()
    page.get_by_label("Select Security group opened to the internet (sg-1)").check()
    page.get_by_label("Select Security group opened to the internet (sg-2)").check()
    expect(page.get_by_text("2 alerts selected")).to_be_visible()
    screenshot("alert-queue-selected")
    dismiss.click()
    dialog = page.get_by_role("dialog", name="Dismiss as false positive")
    dialog.get_by_label("Comment").fill("Load balancer rule changes made by the deploy pipeline.")
    dialog.get_by_role("button", name="Dismiss").click()
    expect(page.get_by_text("Dismissed 2 alerts as false positive.")).to_be_visible()
    rows = page.locator("table.alert-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Unusual region used")
    assert Alert.objects.filter(classification="false_positive").count() == 2

    # Keyboard: j focuses the first row, Enter opens it.
    page.evaluate("document.activeElement.blur()")
    page.keyboard.press("j")
    expect(rows.first).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Unusual region used: ap-southeast-2", level=1)).to_be_visible()

    # A reader sees the alerts and their history, and no command that changes them.
    page.context.clear_cookies()
    sign_in(reader)
    page.goto("/alerts/?status=all")
    expect(page.get_by_role("link", name=TITLE)).to_be_visible()
    expect(page.locator("table").get_by_role("checkbox")).to_have_count(0)
    expect(page.get_by_role("button", name="Dismiss as false positive")).to_have_count(0)
    screenshot("alert-queue-reader")
    page.get_by_role("link", name=TITLE).click()
    expect(page.locator("#history")).to_contain_text("Compromised access key")
    for name in ("Assign to me", "Reopen", "Resolve", "Comment"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    screenshot("alert-page-reader")
    assert errors == []
