"""In a real browser: a locked-out sign-in says so, and the audit log shows the attempts."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lockout_message_and_audit_log(page, sign_in, screenshot, admin, reader, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    for _ in range(3):
        page.goto("/accounts/login/")
        page.get_by_label("User name").fill(reader.username)
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    screenshot("sign-in-locked")

    sign_in(admin)
    page.goto("/settings/audit-log/")
    expect(page.get_by_role("heading", name="Audit log", level=1)).to_be_visible()
    rows = page.locator("table.data-table tbody tr")
    expect(rows.filter(has_text="Sign-in blocked")).to_have_count(1)
    expect(rows.filter(has_text="Sign-in failed")).to_have_count(2)
    screenshot("audit-log")
    page.get_by_label("Action").select_option(label="Sign-in failed")
    expect(rows).to_have_count(2)
    screenshot("audit-log-filtered")
