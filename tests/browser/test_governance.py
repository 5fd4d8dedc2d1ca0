"""Journey: from a public-bucket alert, make the bucket private, watch the run succeed in the
governance log, then revert it, in a real browser with a real worker and the local AWS emulator."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from alerts.models import Alert
from governance.models import GovernanceRun
from policies.models import Policy
from tests.governance.conftest import connector, public_bucket, s3  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def _public(client, bucket: str) -> bool:
    return any(g["Grantee"].get("URI") == ALL_USERS for g in client.get_bucket_acl(Bucket=bucket)["Grants"])


def _expect_access_in_files(page, bucket: str, access: str) -> None:
    page.goto(reverse("connectors:files"))
    row = page.locator("tbody tr", has=page.get_by_role("link", name=bucket, exact=True))
    expect(row.get_by_text(access, exact=True)).to_be_visible()


def test_make_a_public_bucket_private_from_its_alert_then_revert(
    page,
    sign_in,
    screenshot,
    operator,
    connector,  # noqa: F811 - the fixture imported above
    public_bucket,  # noqa: F811
    s3,  # noqa: F811
    celery_worker,
):
    policy = Policy.objects.create(
        name="S3 bucket is publicly accessible (journey)",
        type=Policy.Type.FILE,
        severity="high",
        enabled=False,
        governance_actions=["s3_make_private"],
    )
    now = datetime.now(UTC)
    alert = Alert.objects.create(
        title=f"S3 bucket {public_bucket} is publicly accessible",
        description="The bucket's ACL grants READ to everyone (AllUsers) and WRITE to any AWS account.",
        severity="high",
        policy=policy,
        type=policy.type,
        connector=connector,
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="journey-public-bucket",
        evidence={"bucket": public_bucket, "explanation": "ACL grants AllUsers READ"},
    )
    sign_in(operator)

    page.goto(f"/alerts/{alert.pk}/")
    panel = page.locator("#governance-panel")
    expect(panel.get_by_text(public_bucket)).to_be_visible()
    panel.get_by_role("link", name="Make bucket private").click()
    drawer = page.locator("#drawer")
    expect(drawer.get_by_role("heading", name="Make bucket private")).to_be_visible()
    expect(drawer.locator("#run-description")).to_contain_text(
        f"Remove the grants to everyone (AllUsers) and to any AWS account (AuthenticatedUsers) from the ACL "
        f"of the bucket {public_bucket}"
    )
    screenshot("governance-confirm")
    drawer.get_by_role("button", name="Make bucket private").click()

    page.wait_for_url("**/governance/**")
    row = page.locator("#runs tbody tr").first
    expect(row.get_by_text("Succeeded")).to_be_visible(timeout=30000)
    expect(row).to_contain_text(f"everyone (AllUsers) READ from the ACL of {public_bucket}")
    expect(row).to_contain_text(operator.username)
    assert not _public(s3, public_bucket)
    screenshot("governance-log-succeeded")
    log_url = page.url

    # The run re-reads the bucket: Files shows it private now, not at the next hourly scan.
    _expect_access_in_files(page, public_bucket, "Private")
    screenshot("governance-files-private")

    page.goto(log_url)
    row = page.locator("#runs tbody tr").first
    row.get_by_role("button", name="Revert").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text(f"Revert Make bucket private on {public_bucket}?")
    dialog.get_by_role("button", name="Revert").click()
    row = page.locator("#runs tbody tr").first
    expect(row.get_by_text("Reverted", exact=True)).to_be_visible(timeout=30000)
    assert _public(s3, public_bucket)
    screenshot("governance-log-reverted")
    _expect_access_in_files(page, public_bucket, "Public")

    page.goto(f"/alerts/{alert.pk}/")
    expect(page.locator("#history")).to_contain_text(f"reverted Make bucket private on {public_bucket}")
    expect(page.locator("#governance-panel")).to_contain_text("Actions run for this alert")
    screenshot("governance-alert-panel")


def test_the_log_fits_its_card_with_long_names_and_errors(
    page,
    sign_in,
    screenshot,
    operator,
    reader,
    connector,  # noqa: F811 - the fixture imported above
):
    """At 1440 px nothing scrolls sideways: long policy names and alert titles end in an ellipsis with
    the full text in a tooltip, long targets wrap and a long error stops after two lines."""
    policy = Policy.objects.create(
        name="Buckets that become public in production accounts owned by the payments team",
        type=Policy.Type.FILE,
        severity="high",
        enabled=False,
        governance_actions=["s3_remove_collaborator"],
    )
    now = datetime.now(UTC)
    alert = Alert.objects.create(
        title="S3 bucket payments-public-eu-west-1-customer-statements-archive is publicly accessible",
        severity="high",
        policy=policy,
        type=policy.type,
        connector=connector,
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="journey-long-names",
    )
    target = "payments-public-eu-west-1-customer-statements-archive-2026-retention-bucket"
    error = "AccessDenied: " + "the role may not call s3:PutBucketAcl on this bucket; " * 8
    GovernanceRun.objects.create(
        action="s3_remove_collaborator",
        target_type=GovernanceRun.TargetType.BUCKET,
        target=target,
        connector=connector,
        alert=alert,
        policy=policy,
        status=GovernanceRun.Status.FAILED,
        attempts=3,
        error=error,
        finished_at=now,
    )
    GovernanceRun.objects.create(
        action="user_require_sign_in",
        target_type=GovernanceRun.TargetType.USER,
        target="arn:aws:iam::123456789012:user/service-accounts/payments-statement-exporter",
        connector=connector,
        alert=alert,
        triggered_by=operator,
        status=GovernanceRun.Status.SUCCEEDED,
        attempts=1,
        summary="Deleted the console password and deactivated 2 access keys of payments-statement-exporter.",
        finished_at=now,
    )
    sign_in(operator)
    page.goto(reverse("governance:log"))
    runs = page.locator("#runs")
    expect(runs.locator("tbody tr")).to_have_count(2)
    assert runs.evaluate("card => card.scrollWidth <= card.clientWidth"), (
        "the governance log scrolls sideways"
    )
    failed = runs.locator("tbody tr", has_text="Remove bucket collaborator")
    expect(failed.get_by_role("link", name=policy.name)).to_have_attribute("title", f"Policy: {policy.name}")
    expect(failed.get_by_role("link", name=alert.title)).to_have_attribute("title", f"Alert: {alert.title}")
    expect(failed.locator(".outcome [title]")).to_have_attribute("title", error)
    expect(failed).to_contain_text("3 attempts")
    expect(failed.get_by_role("button", name="Retry")).to_be_visible()
    screenshot("governance-log-long-names")

    page.context.clear_cookies()
    sign_in(reader)
    page.goto(reverse("governance:log"))
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    expect(page.locator("#runs").get_by_role("button")).to_have_count(0)
