"""Journey 3: create a policy from a template, preview it, save it and see it fire, in a real browser."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from alerts.services import detect_activities
from connectors.ingestion.store import store_records
from connectors.models import Connector
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.cloudtrail import record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NAME = "Security group configuration changes (2)"


def security_group_ingress(*, at: datetime, event_id: str) -> dict:
    """A port opened on a security group in us-east-1 by the deploy role."""
    event = record("ec2_run_instances", at=at, region="us-east-1", event_id=event_id)
    event.update(eventSource="ec2.amazonaws.com", eventName="AuthorizeSecurityGroupIngress", readOnly=False)
    event["requestParameters"] = {
        "groupId": "sg-0123456789abcdef0",
        "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22}]},
    }
    event["responseElements"] = {"_return": True}
    return event


def right_edge(locator) -> float:
    box = locator.bounding_box()
    return box["x"] + box["width"]


def label_right_edge(header) -> float:
    """Where a sortable header's label text ends (its sort icon aside)."""
    return header.evaluate(
        """th => {
            const range = document.createRange();
            range.selectNodeContents(th.querySelector(".sort-link").firstChild);
            return range.getBoundingClientRect().right;
        }"""
    )


@pytest.fixture
def connector(db):
    policies_install_builtin()  # transactional tests start from an empty database
    return Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )


def test_create_from_template_preview_save_and_see_it_fire(
    page, sign_in, screenshot, operator, reader, connector
):
    now = datetime.now(UTC).replace(microsecond=0)
    store_records(
        connector=connector,
        records=[
            security_group_ingress(at=now - timedelta(hours=2), event_id="sg-before"),
            record("iam_user_api_call", at=now - timedelta(hours=1), event_id="unrelated"),
        ],
        source="test",
    )

    sign_in(operator)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Policies").click()
    expect(page.get_by_role("heading", name="Policies", exact=True)).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="CloudTrail configuration changes")).to_be_visible()
    screenshot("policies-list")

    page.locator("summary", has_text="Create policy").click()
    page.get_by_role("menuitem", name="Activity policy").click()
    expect(page.get_by_role("heading", name="Create activity policy")).to_be_visible()
    screenshot("policies-new")
    page.get_by_role("link", name="Security group configuration changes").click()

    expect(page.get_by_label("Name", exact=True)).to_have_value(NAME)
    page.get_by_label("Severity").select_option("high")
    rows = page.locator("[data-filter-row]")
    expect(rows).to_have_count(3)
    page.get_by_role("button", name="Add filter").click()
    expect(rows).to_have_count(4)
    new_row = rows.nth(3)
    new_row.get_by_label("Field").select_option("region")
    new_row.get_by_label("Operator").select_option("equals")
    new_row.get_by_label("Values").fill("us-east-1")

    page.get_by_role("button", name="Preview").click()
    summary = page.locator("#preview-summary")
    expect(summary).to_contain_text("1 stored activity matched in the last 7 days")
    preview_rows = page.locator("#preview-rows tr")
    expect(preview_rows).to_have_count(1)
    expect(preview_rows.first).to_contain_text("AuthorizeSecurityGroupIngress")
    expect(preview_rows.first).to_contain_text("Succeeded")
    page.evaluate("window.scrollTo(0, 0)")  # a full-page shot of a scrolled page repeats the sticky bar
    screenshot("policy-editor-preview")
    preview_rows.first.click()
    expect(page.get_by_role("dialog")).to_contain_text("sg-0123456789abcdef0")
    page.get_by_role("dialog").get_by_role("button", name="Close").click()
    assert not Policy.objects.filter(name=NAME).exists()  # preview saves nothing

    page.get_by_role("button", name="Create policy").click()
    expect(page.get_by_text(f"Policy {NAME} was created")).to_be_visible()
    expect(page.locator("#open-alerts")).to_have_text("0")
    policy = Policy.objects.get(name=NAME)
    assert policy.severity == "high"
    assert policy.filters[-1] == {"field": "region", "operator": "equals", "values": ["us-east-1"]}

    page.get_by_role("link", name="All policies").click()
    row = page.get_by_role("row").filter(has_text=NAME)
    expect(row).to_contain_text("High")
    expect(row.get_by_role("switch")).to_have_attribute("aria-checked", "true")

    # A new matching event arrives and detection runs (the worker's task, synchronously here).
    stored = store_records(
        connector=connector,
        records=[security_group_ingress(at=datetime.now(UTC), event_id="sg-after")],
        source="test",
    )
    alerts = detect_activities(activity_ids=stored.new_ids)
    assert {alert.policy.name for alert in alerts} >= {NAME}

    page.reload()
    expect(page.get_by_role("row").filter(has_text=NAME).locator("td.open-alerts")).to_have_text("1")
    # Counts are figures: they end flush with their header's label, in tabular digits.
    count = page.get_by_role("row").filter(has_text=NAME).locator("td.open-alerts a")
    header = page.get_by_role("columnheader", name="Open alerts")
    assert right_edge(count) == pytest.approx(label_right_edge(header), abs=1)
    expect(count.locator("xpath=..")).to_have_css("font-variant-numeric", "tabular-nums")
    screenshot("policies-list-alert")
    page.get_by_role("link", name=NAME).click()
    expect(page.locator("#open-alerts")).to_have_text("1")
    page.get_by_role("link", name="History").click()
    expect(page.get_by_role("cell", name="oscar-operator")).to_be_visible()
    screenshot("policy-history")

    # A reader sees the policy, read-only.
    page.context.clear_cookies()
    sign_in(reader)
    page.goto("/policies/")
    reader_row = page.get_by_role("row").filter(has_text=NAME)
    expect(reader_row.get_by_role("switch")).to_have_attribute("aria-disabled", "true")
    expect(page.get_by_text("Create policy")).to_have_count(0)
    reader_row.get_by_role("link", name=NAME).click()
    expect(page.get_by_text("Your role can read this policy but not change it.")).to_be_visible()
    expect(page.get_by_label("Severity")).to_be_disabled()
    expect(page.get_by_role("button", name="Save")).to_have_count(0)
    expect(page.get_by_role("button", name="Disable")).to_have_count(0)
    expect(page.get_by_role("button", name="Preview")).to_have_count(0)
    screenshot("policy-reader")
