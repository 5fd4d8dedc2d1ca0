"""The governance log, the confirmation page, retry / revert, the alert panel, the dashboard fragment
and the API, each checked with the role that may and the role that may not."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from alerts.models import Alert, AlertEvent
from connectors.ingestion.store import store_records
from governance import services
from governance.models import GovernanceRun
from policies.models import Policy
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(connector):
    policy = Policy.objects.create(
        name="Bucket made public (test)", enabled=False, governance_actions=["s3_make_private"]
    )
    now = datetime.now(UTC)
    alert = Alert.objects.create(
        title="alice made payments-public public",
        severity="high",
        policy=policy,
        connector=connector,
        principal="arn:aws:iam::123456789012:user/alice",
        principal_name="alice",
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="public-bucket",
        evidence={"bucket": "payments-public"},
    )
    stored = store_records(
        connector=connector,
        records=[
            record(
                eventName="PutBucketAcl",
                eventSource="s3.amazonaws.com",
                requestParameters={"bucketName": "invoices-2026"},
            )
        ],
        source="test",
    )
    alert.activities.add(*stored.new_ids)
    return alert


def _run_url(**params) -> str:
    from urllib.parse import urlencode

    return f"{reverse('governance:run_new')}?{urlencode(params)}"


def test_confirmation_names_exactly_what_will_change_and_its_post_queues_the_run(
    client_for, operator, reader, connector, alert
):
    url = _run_url(action="s3_make_private", connector=connector.pk, target="payments-public", alert=alert.pk)
    assert client_for(reader).get(url).status_code == 403
    assert client_for(reader).post(url).status_code == 403

    page = client_for(operator).get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Remove the grants to everyone (AllUsers)" in text and "payments-public" in text
    assert "Production" in text

    response = client_for(operator).post(
        reverse("governance:run_new"),
        {
            "action": "s3_make_private",
            "connector": connector.pk,
            "target": "payments-public",
            "alert": alert.pk,
        },
    )
    run = GovernanceRun.objects.get()
    assert response.status_code == 302 and response["Location"].startswith(reverse("governance:log"))
    assert (run.action, run.target, run.alert, run.triggered_by) == (
        "s3_make_private",
        "payments-public",
        alert,
        operator,
    )
    assert run.status == GovernanceRun.Status.PENDING
    event = AlertEvent.objects.get(alert=alert, kind=AlertEvent.Kind.GOVERNANCE)
    assert event.actor == operator and "Make bucket private on payments-public" in event.message


def test_confirmation_in_the_flyout_and_with_governance_disabled(client_for, operator, connector):
    connector.governance_enabled, connector.governance_reason = False, "s3:PutBucketAcl is not granted."
    connector.save()
    url = _run_url(action="s3_make_private", connector=connector.pk, target="payments-public")
    flyout = client_for(operator).get(url, headers={"HX-Request": "true"})
    text = flyout.content.decode()
    assert "drawer-header" in text and "<html" not in text
    assert "Data governance is disabled for Production" in text and "disabled>" in text
    response = client_for(operator).post(
        reverse("governance:run_new"),
        {"action": "s3_make_private", "connector": connector.pk, "target": "payments-public"},
    )
    assert response.status_code == 200 and not GovernanceRun.objects.exists()


def test_log_lists_runs_with_filters_for_every_role(client_for, reader, operator, connector, public_bucket):
    done = services.run_create(
        action_key="s3_make_private", connector=connector, target=public_bucket, by=operator
    )
    services.run_execute(run_id=done.pk)
    failed = services.run_create(action_key="s3_make_private", connector=connector, target="gone-bucket")
    services.run_execute(run_id=failed.pk)

    page = client_for(reader).get(reverse("governance:log"))
    text = page.content.decode()
    assert page.status_code == 200
    assert "payments-public" in text and "gone-bucket" in text and "oscar-operator" in text
    assert "Not found: the bucket no longer exists" in text
    assert 'action="/governance/runs/' not in text  # a reader gets no Retry / Revert

    page = client_for(operator).get(reverse("governance:log"), {"status": "failed"})
    text = page.content.decode()
    assert "gone-bucket" in text and "payments-public" not in text
    assert reverse("governance:retry", args=[failed.pk]) in text

    page = client_for(operator).get(reverse("governance:log"), {"q": "payments"})
    assert reverse("governance:revert", args=[done.pk]) in page.content.decode()

    drawer = client_for(reader).get(reverse("governance:detail", args=[done.pk]))
    assert b"What changed" in drawer.content and b"<html" not in drawer.content


def test_retry_and_revert_need_the_operate_permission(client_for, reader, operator, connector, public_bucket):
    run = services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)
    services.run_execute(run_id=run.pk)
    revert = reverse("governance:revert", args=[run.pk])
    assert client_for(reader).post(revert).status_code == 403
    assert client_for(operator).post(revert).status_code == 302
    run.refresh_from_db()
    assert run.reverting and run.reverted_by == operator

    failed = services.run_create(action_key="s3_make_private", connector=connector, target="gone-bucket")
    services.run_execute(run_id=failed.pk)
    retry = reverse("governance:retry", args=[failed.pk])
    assert client_for(reader).post(retry).status_code == 403
    assert client_for(operator).post(retry).status_code == 302
    assert GovernanceRun.objects.get(pk=failed.pk).status == GovernanceRun.Status.PENDING


def test_alert_panel_offers_the_policy_action_first_and_fitting_user_and_bucket_actions(
    client_for, operator, reader, alert
):
    panel = client_for(operator).get(reverse("governance:alert_panel", args=[alert.pk]))
    text = panel.content.decode()
    assert panel.status_code == 200 and "<html" not in text
    for target in ("payments-public", "invoices-2026", "alice"):
        assert target in text
    assert 'class="button primary"' in text and "Suggested by the policy" in text
    assert "action=user_suspend" in text and "action=s3_remove_collaborator" in text

    as_reader = client_for(reader).get(reverse("governance:alert_panel", args=[alert.pk])).content.decode()
    assert "action=user_suspend" not in as_reader

    detail = client_for(reader).get(reverse("alerts:detail", args=[alert.pk])).content.decode()
    assert reverse("governance:alert_panel", args=[alert.pk]) in detail


def test_recent_fragment_lists_the_eight_newest_runs(client_for, reader, connector):
    for number in range(10):
        GovernanceRun.objects.create(
            action="s3_make_private", target_type="bucket", target=f"bucket-{number}", connector=connector
        )
    fragment = client_for(reader).get(reverse("governance:recent")).content.decode()
    assert "<html" not in fragment
    assert fragment.count("<tr>") == 8 and "bucket-9" in fragment and "bucket-1<" not in fragment


def test_automatic_runs_for_an_alert_are_created_once(connector, alert):
    alert.policy.governance_automatic = True
    alert.policy.governance_actions = ["s3_make_private", "user_require_sign_in"]
    alert.policy.save()

    first = services.runs_create_for_alert(alert_id=alert.pk)
    again = services.runs_create_for_alert(alert_id=alert.pk)

    assert again == []
    assert sorted((r.action, r.target) for r in first) == [
        ("s3_make_private", "invoices-2026"),
        ("s3_make_private", "payments-public"),
        ("user_require_sign_in", "arn:aws:iam::123456789012:user/alice"),
    ]
    assert all(run.policy == alert.policy and run.triggered_by is None for run in first)
    assert AlertEvent.objects.filter(alert=alert, kind=AlertEvent.Kind.GOVERNANCE).count() == 3


def test_policy_editor_offers_the_registry_actions(client_for, operator):
    policy = Policy.objects.create(name="Editor choices (test)", enabled=False)
    page = client_for(operator).get(reverse("policies:detail", args=[policy.pk])).content.decode()
    for key in (
        "s3_make_private",
        "s3_remove_collaborator",
        "user_notify",
        "user_require_sign_in",
        "user_suspend",
    ):
        assert f'value="{key}"' in page


# --------------------------------------------------------------------------------------------------
# API


def test_api_lists_for_readers_and_runs_retries_reverts_for_operators(
    client_for, reader, operator, connector, public_bucket
):
    body = {"action": "s3_make_private", "connector": connector.pk, "target": public_bucket}
    url = "/api/v1/governance/"
    assert client_for(reader).post(url, body, content_type="application/json").status_code == 403

    created = client_for(operator).post(url, body, content_type="application/json")
    assert created.status_code == 201, created.content
    run_id = created.json()["id"]
    assert created.json()["status"] == "pending" and created.json()["triggered_by"] == "oscar-operator"
    services.run_execute(run_id=run_id)

    listed = client_for(reader).get(url, {"status": "succeeded", "action": "s3_make_private"}).json()
    assert [r["id"] for r in listed["results"]] == [run_id]
    assert client_for(reader).get(url, {"status": "failed"}).json()["results"] == []
    assert client_for(reader).get(f"{url}{run_id}/").json()["target"] == public_bucket

    assert client_for(reader).post(f"{url}{run_id}/revert/").status_code == 403
    reverting = client_for(operator).post(f"{url}{run_id}/revert/")
    assert reverting.status_code == 200 and reverting.json()["reverting"] is True
    assert client_for(operator).post(f"{url}{run_id}/retry/").status_code == 400

    bad = client_for(operator).post(
        url, {**body, "action": "delete_everything"}, content_type="application/json"
    )
    assert bad.status_code == 400
