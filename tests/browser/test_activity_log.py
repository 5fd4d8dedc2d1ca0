"""The activity log in a real browser: filters, the drawer with the raw event, pivots, export."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from connectors.ingestion.store import store_records
from connectors.models import Connector
from tests.cloudtrail import record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def activities(db):
    connector = Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )
    now = datetime.now(UTC)
    events = [
        record(
            "iam_user_console_login_failure",
            at=now - timedelta(minutes=i),
            event_id=f"fail-{i}",
            sourceIPAddress="185.220.101.4",
        )
        for i in range(3)
    ]
    events += [
        record(
            "iam_user_api_call",
            at=now - timedelta(hours=i),
            event_id=f"api-{i}",
            sourceIPAddress="81.2.69.160",
        )
        for i in range(1, 6)
    ]
    hostile = record(
        "iam_user_api_call",
        at=now - timedelta(minutes=30),
        event_id="hostile",
        userAgent='<script>alert("x")</script>',
        sourceIPAddress="5.2.0.1",
    )
    store_records(connector=connector, records=[*events, hostile], source="test")
    return connector


def test_filter_open_drawer_and_pivot(page, sign_in, screenshot, reader, activities):
    sign_in(reader)
    page.goto("/activity/")
    rows = page.locator("#activity-rows tr.clickable")
    expect(rows).to_have_count(9)
    screenshot("activity-log")
    page.locator("summary", has_text="Saved queries").click()
    page.get_by_role("menuitem", name="Failed log-ins").click()
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("ConsoleLogin")
    expect(rows.first).to_contain_text("Failed")
    rows.first.click()
    drawer = page.get_by_role("dialog")
    expect(drawer).to_contain_text("Raw event")
    expect(drawer).to_contain_text('"eventName": "ConsoleLogin"')
    screenshot("activity-drawer")
    drawer.get_by_role("link", name="Same IP address").click()
    expect(page.locator("#activity-rows tr.clickable")).to_have_count(3)


def test_hostile_fields_are_shown_as_text(page, sign_in, reader, activities):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(reader)
    page.goto("/activity/?q=hostile")
    page.locator("#activity-rows tr.clickable").first.click()
    expect(page.get_by_role("dialog")).to_contain_text('<script>alert("x")</script>')
    assert dialogs == []
