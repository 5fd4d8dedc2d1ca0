"""Runs on real Celery workers: two workers racing for one run execute it once; a policy's automatic
governance runs end to end, from stored activity to a private bucket."""

import pytest

from alerts.models import AlertEvent
from connectors.models import IamUser
from governance.models import GovernanceRun
from governance.tasks import execute_run_task
from policies.models import Policy
from policies.services import policies_install_builtin
from tests.policies.activities import call, store
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "governance-race-test"


def test_two_workers_racing_for_one_run_execute_it_once(connector, celery_worker_env, tmp_path):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    arn = "arn:aws:iam::123456789012:user/alice"
    IamUser.objects.create(connector=connector, user_name="alice", arn=arn, email="alice@example.com")
    # Created directly (not through run_create) so that no task is sent before both workers listen.
    run = GovernanceRun.objects.create(
        action="user_notify", target_type="user", target=arn, connector=connector
    )
    env = {**celery_worker_env, "EMAIL_URL": f"filemail:///{mail_dir}"}
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    workers = [start_worker(env, log, queues=QUEUE) for log in logs]
    try:
        for _ in range(4):
            execute_run_task.apply_async((run.pk,), queue=QUEUE)
        wait_for(lambda: sum(log.read_text().count("succeeded in") for log in logs) == 4, timeout=60)
    finally:
        for worker in workers:
            stop_worker(worker)
    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    assert run.attempts == 1
    assert len(list(mail_dir.iterdir())) == 1
    assert all("succeeded in" in log.read_text() for log in logs), "both workers took deliveries"


def test_a_policy_runs_its_governance_automatically_for_a_new_alert(
    connector, s3, public_bucket, celery_worker
):
    policies_install_builtin()
    Policy.objects.exclude(template_key="aws_s3_config_changes").update(enabled=False)
    Policy.objects.filter(template_key="aws_s3_config_changes").update(
        governance_actions=["s3_make_private"], governance_automatic=True
    )
    store(
        connector, [call("PutBucketAcl", "s3.amazonaws.com", requestParameters={"bucketName": public_bucket})]
    )

    run = wait_for(
        lambda: GovernanceRun.objects.filter(status=GovernanceRun.Status.SUCCEEDED).first(), timeout=60
    )

    assert (run.action, run.target, run.policy.template_key) == (
        "s3_make_private",
        public_bucket,
        "aws_s3_config_changes",
    )
    grants = s3.get_bucket_acl(Bucket=public_bucket)["Grants"]
    assert not [g for g in grants if "AllUsers" in g["Grantee"].get("URI", "")]
    messages = list(
        AlertEvent.objects.filter(alert=run.alert, kind=AlertEvent.Kind.GOVERNANCE).values_list(
            "message", flat=True
        )
    )
    assert messages[0].startswith("ran Make bucket private on payments-public automatically")
    assert "succeeded" in messages[-1]
