"""Journey 1: connect an AWS account, in a real browser, against the local AWS emulator."""

import pytest
from playwright.sync_api import expect

from connectors.models import Connector

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def start_wizard(page, name: str) -> None:
    page.goto("/settings/connected-apps/")
    page.get_by_role("link", name="Connect an app").first.click()
    page.get_by_role("link", name="Amazon Web Services").click()
    page.get_by_label("Instance name").fill(name)
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Access key of a dedicated IAM user").check()
    page.get_by_role("button", name="Next").click()


def finish_wizard(page) -> None:
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_label("Last 7 days")).to_be_checked()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("#validation-outcome")).to_be_visible(timeout=30000)


def test_connect_with_pasted_keys(page, sign_in, screenshot, admin, aws, connector_user):
    aws.enable_auth()
    sign_in(admin)
    start_wizard(page, "Production")
    screenshot("wizard-credentials")
    page.get_by_label("Access key ID").fill(connector_user.credentials.access_key_id)
    page.get_by_label("Secret access key").fill(connector_user.credentials.secret_access_key)
    finish_wizard(page)
    expect(page.locator("#validation-outcome")).to_contain_text(
        "All required checks passed for account 123456789012"
    )
    screenshot("wizard-validated")
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="Production is connected")).to_be_visible()
    expect(page.get_by_text("Connected", exact=True)).to_be_visible()
    screenshot("wizard-done")
    page.get_by_role("link", name="Go to connected apps").click()
    row = page.get_by_role("row").filter(has_text="Production")
    expect(row).to_contain_text("123456789012")
    expect(row).to_contain_text("Connected")
    screenshot("connected-apps")


def test_connect_with_csv_upload(page, sign_in, admin, aws, connector_user, tmp_path):
    aws.enable_auth()
    csv_file = tmp_path / "defender-connector_accessKeys.csv"
    csv_file.write_bytes(connector_user.csv("console"))
    sign_in(admin)
    start_wizard(page, "From CSV")
    page.get_by_label("Or upload the access key .csv").set_input_files(str(csv_file))
    finish_wizard(page)
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("heading", name="From CSV is connected")).to_be_visible()
    assert Connector.objects.get(name="From CSV").status == Connector.Status.CONNECTED


def test_bogus_key_shows_the_error_by_the_field_and_nothing_is_connected(
    page, sign_in, screenshot, admin, aws, seeded_account
):
    aws.enable_auth()
    sign_in(admin)
    start_wizard(page, "Bogus")
    page.get_by_label("Access key ID").fill("AKIAZZZZZZZZZZZZZZZZ")
    page.get_by_label("Secret access key").fill("q" * 40)
    page.get_by_role("button", name="Next").click()
    error = page.locator("#id_access_key_id_error")
    expect(error).to_contain_text("AWS does not recognise this access key ID")
    expect(error).to_contain_text("InvalidClientTokenId")
    expect(page.get_by_label("Access key ID")).to_have_value("AKIAZZZZZZZZZZZZZZZZ")
    screenshot("wizard-bogus-key")
    assert not Connector.objects.exists()


def test_edit_settings_then_disable_and_enable(
    page, sign_in, screenshot, admin, aws, connector_user, read_only_user
):
    from connectors import services
    from connectors.services import ConnectorSettings

    services.connector_save(
        config=ConnectorSettings(
            name="Production",
            access_key_id=connector_user.credentials.access_key_id,
            secret_access_key=connector_user.credentials.secret_access_key,
        ),
        by=admin,
    )
    aws.enable_auth()
    sign_in(admin)
    page.goto("/settings/connected-apps/")
    row = page.get_by_role("row").filter(has_text="Production")
    row.get_by_label("Actions for Production").click()
    row.get_by_role("menuitem", name="Edit settings").click()
    expect(page.get_by_label("Instance name")).to_have_value("Production")
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Access key ID").fill(read_only_user.credentials.access_key_id)
    page.get_by_label("Secret access key").fill(read_only_user.credentials.secret_access_key)
    finish_wizard(page)
    expect(page.locator("#validation-outcome")).to_contain_text("Data governance will be disabled")
    page.get_by_role("button", name="Save and reconnect").click()
    expect(page.get_by_role("heading", name="Production is connected")).to_be_visible()
    assert Connector.objects.get(name="Production").access_key_id == read_only_user.credentials.access_key_id

    page.goto("/settings/connected-apps/")
    row = page.get_by_role("row").filter(has_text="Production")
    row.get_by_label("Actions for Production").click()
    row.get_by_role("menuitem", name="Disable").click()
    expect(page.get_by_role("dialog")).to_contain_text("Nothing is deleted")
    page.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("row").filter(has_text="Production")).to_contain_text("Disabled")
    screenshot("connected-apps-disabled")
    row = page.get_by_role("row").filter(has_text="Production")
    row.get_by_label("Actions for Production").click()
    row.get_by_role("menuitem", name="Enable").click()
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_role("row").filter(has_text="Production")).not_to_contain_text("Disabled")
    row = page.get_by_role("row").filter(has_text="Production")
    row.get_by_role("link", name="Production").click()
    expect(page.get_by_role("dialog")).to_contain_text("Last validation")
    screenshot("connector-drawer")
