import re

import pytest
from playwright.sync_api import expect

from defender.navigation import NAVIGATION, NavSection

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_sign_in_and_visit_every_navigation_entry(page, sign_in, screenshot, admin):
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot("sign-in")
    sign_in(admin)
    expect(page.get_by_role("heading", name="Home", level=1)).to_be_visible()
    screenshot("home")
    nav = page.get_by_role("navigation", name="Main navigation")
    for entry in NAVIGATION:
        for item in entry.items if isinstance(entry, NavSection) else (entry,):
            nav.get_by_role("link", name=item.label, exact=True).click()
            expect(page.get_by_role("heading", level=1)).to_have_text(item.label)
            expect(nav.get_by_role("link", name=item.label, exact=True)).to_have_attribute(
                "aria-current", "page"
            )
            screenshot("nav-" + re.sub(r"\W+", "-", item.label.lower()))


def test_wrong_password_is_shown(page, reader):
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(reader.username)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("user name or password is incorrect")


def test_reader_has_no_users_page_and_admin_adds_a_user(
    page, sign_in, screenshot, admin, browser, live_server
):
    sign_in(admin)
    page.get_by_role("link", name="Users and roles").click()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("User name").fill("dana")
    page.get_by_label("Security operator").check()
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_text("This password is too short")).to_be_visible()
    screenshot("user-create-error")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Add user").click()
    expect(page.get_by_role("status")).to_contain_text("User dana was created as Security operator.")
    row = page.get_by_role("row").filter(has_text="dana")
    expect(row).to_contain_text("Security operator")
    own_row = page.get_by_role("row").filter(has_text=admin.username)
    expect(own_row.get_by_role("button", name="You cannot disable your own account")).to_be_disabled()
    screenshot("users")
    row.get_by_role("button", name="Disable dana").click()
    expect(page.get_by_role("dialog")).to_contain_text("Disable dana?")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("row").filter(has_text="dana")).to_contain_text("Disabled")
