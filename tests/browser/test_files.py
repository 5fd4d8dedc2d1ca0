"""Cloud apps > Files in a real browser: buckets scanned from the local AWS emulator, the public ones
standing out with why, the bucket flyout, and "Make private" leading to the governance confirmation."""

import json
import re

import pytest
from playwright.sync_api import expect

from alerts.services import detect_buckets
from connectors.buckets import buckets_scan
from connectors.models import Connector
from localaws.scenario.calls import public_read_policy
from policies.services import policies_install_builtin
from tests.aws_fixtures import aws_client

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def scanned_account(aws):
    policies_install_builtin()  # transactional tests start from an empty database
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="hanbit-press-kit")
    s3.put_bucket_acl(Bucket="hanbit-press-kit", ACL="public-read")
    s3.create_bucket(
        Bucket="hanbit-web-static", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_bucket_policy(
        Bucket="hanbit-web-static", Policy=json.dumps(public_read_policy("hanbit-web-static"))
    )
    for name in ("hanbit-prod-orders", "hanbit-terraform-state", "hanbit-athena-results"):
        s3.create_bucket(Bucket=name)
    connector = Connector.objects.create(
        name="Production",
        account_id="123456789012",
        status=Connector.Status.CONNECTED,
        access_key_id="AKIAIOSFODNN7EXAMPLE",
        secret_access_key="testing-root",
        governance_enabled=True,
    )
    detect_buckets(bucket_ids=buckets_scan(connector_id=connector.pk))
    return connector


def test_files_page_shows_public_buckets_and_offers_make_private(
    page, sign_in, screenshot, operator, scanned_account
):
    sign_in(operator)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="Files").click()
    expect(page.get_by_role("heading", name="Files", exact=True)).to_be_visible()
    expect(page.get_by_text("2 publicly accessible.")).to_be_visible()
    press = page.get_by_role("row").filter(has_text="hanbit-press-kit")
    expect(press).to_contain_text("Public")
    expect(press).to_contain_text("AllUsers READ")
    expect(page.get_by_role("row").filter(has_text="hanbit-web-static")).to_contain_text("Bucket policy")
    expect(page.get_by_role("row").filter(has_text="hanbit-web-static")).to_contain_text("eu-west-1")
    expect(page.get_by_role("row").filter(has_text="hanbit-prod-orders")).to_contain_text("Private")
    screenshot("files")

    page.get_by_label("Access").select_option("public")
    expect(page.get_by_role("row").filter(has_text="hanbit-prod-orders")).to_have_count(0)
    expect(page.get_by_role("row").filter(has_text="hanbit-press-kit")).to_be_visible()

    press.get_by_role("link", name="hanbit-press-kit").click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_role("heading", name="hanbit-press-kit")).to_be_visible()
    expect(drawer).to_contain_text("The ACL grants READ to everyone (AllUsers).")
    expect(drawer.get_by_role("link", name="Remove the public grant to AllUsers")).to_be_visible()
    screenshot("files-drawer")
    drawer.get_by_role("button", name="Close").click()

    press.get_by_label("Governance actions for hanbit-press-kit").click()
    expect(press.get_by_role("menuitem", name="Remove AllUsers READ")).to_be_visible()
    screenshot("files-row-menu")
    press.get_by_role("menuitem", name="Make private").click()
    expect(page.get_by_text("hanbit-press-kit").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"action=s3_make_private&connector=\d+&target=hanbit-press-kit"))
    screenshot("files-make-private-confirm")


def test_readers_see_buckets_without_actions(page, sign_in, reader, scanned_account):
    sign_in(reader)
    page.goto("/files/")
    expect(page.get_by_role("row").filter(has_text="hanbit-press-kit")).to_be_visible()
    expect(page.get_by_label("Governance actions for hanbit-press-kit")).to_have_count(0)
    expect(page.get_by_role("button", name="Scan now")).to_have_count(0)
