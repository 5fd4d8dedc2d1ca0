"""Journey: create an API token from the user menu, see its secret once, use it, revoke it; then read
the API documentation, served by the app itself."""

import re

import pytest
from playwright.sync_api import expect

from defender.models import ApiToken
from tests.browser.conftest import SCREENSHOTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_create_use_and_revoke_a_token(page, sign_in, operator, screenshot, live_server):
    sign_in(operator)
    page.get_by_label(f"Account menu for {operator.username}").click()
    page.get_by_role("menuitem", name="API tokens").click()
    expect(page.get_by_role("heading", name="API tokens", exact=True)).to_be_visible()
    expect(page.get_by_text("No API tokens yet")).to_be_visible()

    page.get_by_role("link", name="New token").first.click()
    page.get_by_label("Name").fill("SOAR playbooks")
    page.get_by_label("Expires").select_option(label="30 days")
    page.get_by_role("button", name="Create token").click()
    secret = page.get_by_label("Token secret").inner_text().strip()
    assert re.fullmatch(r"dfa_[A-Za-z0-9_-]{43}", secret)
    expect(page.get_by_text("it is shown only this once")).to_be_visible()
    screenshot("api_token_created")

    api = page.context.request
    headers = {"Authorization": f"Bearer {secret}"}
    assert api.get(f"{live_server.url}/api/v1/alerts/", headers=headers).status == 200

    page.get_by_role("link", name="Done").click()
    row = page.get_by_role("row", name=re.compile("SOAR playbooks"))
    expect(row).to_contain_text(ApiToken.objects.get().prefix)
    expect(row).to_contain_text("Active")
    assert secret not in page.content()
    screenshot("api_tokens_list")

    row.get_by_role("button", name="Revoke SOAR playbooks").click()
    dialog = page.get_by_role("dialog", name="Revoke API token")
    expect(dialog).to_contain_text("Scripts that use it will be refused")
    dialog.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("The token SOAR playbooks was revoked")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("SOAR playbooks"))).to_contain_text("Revoked")
    refused = api.get(f"{live_server.url}/api/v1/alerts/", headers=headers)
    assert refused.status == 401 and refused.json()["code"] == "token_revoked"


def test_api_documentation_lists_the_endpoints(page, sign_in, reader):
    external = []
    page.on(
        "request",
        lambda request: (
            external.append(request.url)
            if not request.url.startswith(("http://localhost", "http://127.0.0.1", "data:"))
            else None
        ),
    )
    sign_in(reader)
    page.get_by_label(f"Account menu for {reader.username}").click()
    page.get_by_role("menuitem", name="API documentation").click()
    expect(page.get_by_text("Defender for AWS API").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/alerts/").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/policies/").first).to_be_visible()
    page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/alerts/$")).first.click()
    expect(page.get_by_text("created_after").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api_docs.png"))  # the first screenful: the page is very long
    assert external == []
