"""The connect wizard's credentials step: the region list and the IAM policies beside the form."""

import json

import pytest
from playwright.sync_api import expect

from connectors import iam_policies
from tests.browser.conftest import SCREENSHOTS
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scriptless_page(browser, live_server):
    """A browser with JavaScript switched off: the wizard must still work and look right."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1440, "height": 900}, java_script_enabled=False
    )
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def capture(page, name: str) -> None:
    """A full-page screenshot of any page (the screenshot fixture serves the default page only)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def open_credentials_step(page, *, method: str, screenshots: bool = False) -> None:
    page.goto("/settings/connected-apps/new/aws/name/")
    page.get_by_label("Instance name").fill("Production")
    if screenshots:
        capture(page, "wizard-name")
    page.get_by_role("button", name="Next").click()
    page.get_by_label(method).check()
    if screenshots:
        capture(page, "wizard-method")
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Monitor every enabled region")).to_be_visible()


def sign_in_without_script(page, user) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def scope_summary(page):
    return page.locator("dl.properties dt", has_text="Regions").locator("xpath=following-sibling::dd[1]")


def test_region_list_follows_every_region_without_javascript(scriptless_page, admin, aws, connector_user):
    page = scriptless_page
    aws.enable_auth()
    sign_in_without_script(page, admin)
    open_credentials_step(page, method="Access key of a dedicated IAM user")
    every_region = page.get_by_label("Monitor every enabled region")
    region_list = page.get_by_label("Regions to monitor")
    expect(every_region).to_be_checked()
    expect(region_list).to_be_hidden()

    every_region.uncheck()
    expect(region_list).to_be_visible()
    region_list.select_option(["eu-west-1"])
    capture(page, "wizard-regions-chosen")
    every_region.check()
    expect(region_list).to_be_hidden()

    # Ticked, the box wins over the hidden list's selection when the form is submitted.
    page.get_by_label("Access key ID").fill(connector_user.credentials.access_key_id)
    page.get_by_label("Secret access key").fill(connector_user.credentials.secret_access_key)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    expect(scope_summary(page)).to_have_text("Every enabled region")

    page.get_by_role("link", name="Credentials").click()
    every_region.uncheck()
    region_list.select_option(["eu-west-1", "us-east-1"])
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Last 7 days")).to_be_checked()
    capture(page, "wizard-history")
    page.get_by_role("button", name="Next").click()
    expect(scope_summary(page)).to_have_text("eu-west-1, us-east-1")
    capture(page, "wizard-validate-without-javascript")

    page.get_by_role("link", name="Credentials").click()
    expect(every_region).not_to_be_checked()
    expect(region_list).to_be_visible()


def scrolls_sideways(page, selector: str) -> bool:
    return page.locator(selector).evaluate("element => element.scrollWidth > element.clientWidth")


def rendered_lines(page, selector: str) -> int:
    """How many lines the box's text takes on screen, wrapped lines counted."""
    return page.locator(selector).evaluate(
        """element => {
            const style = getComputedStyle(element);
            const padding = parseFloat(style.paddingTop) + parseFloat(style.paddingBottom);
            const text = element.scrollHeight - padding;
            return Math.round(text / parseFloat(style.lineHeight));
        }"""
    )


def test_policies_beside_the_form_fit_and_copy(page, sign_in, screenshot, admin, operator):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(admin)
    open_credentials_step(page, method="IAM role assumed by the portal", screenshots=True)
    expect(page.get_by_label("Regions to monitor")).to_be_hidden()
    boxes = ["#policy-governance", "#policy-readonly", "#policy-trust"]
    for box in boxes:
        expect(page.locator(box)).to_be_visible()
        assert not scrolls_sideways(page, box), f"{box} scrolls sideways at 1440 px"
    # At 1440 px the aside is wide enough that no line of the permission policies wraps (the trust
    # policy's ARN and external ID are longer than any aside, so they wrap).
    for box in ["#policy-governance", "#policy-readonly"]:
        assert rendered_lines(page, box) == page.locator(box).text_content().count("\n") + 1
    screenshot("wizard-role-policies")

    # A narrower window puts the policies under the form and wraps them rather than clip them.
    page.set_viewport_size({"width": 1024, "height": 900})
    for box in boxes:
        assert not scrolls_sideways(page, box), f"{box} scrolls sideways at 1024 px"
    assert not scrolls_sideways(page, "html"), "the page scrolls sideways at 1024 px"
    screenshot("wizard-role-policies-narrow")

    page.get_by_role("button", name="Copy the monitoring and data governance policy").click()
    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert json.loads(copied) == json.loads(iam_policies.GOVERNANCE_POLICY_JSON)

    page.get_by_role("button", name="Copy the trust policy").click()
    trust = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert trust["Statement"][0]["Action"] == "sts:AssumeRole"

    # Connecting an account is for administrators only.
    page.context.clear_cookies()
    sign_in(operator)
    assert page.goto("/settings/connected-apps/new/aws/credentials/").status == 403
