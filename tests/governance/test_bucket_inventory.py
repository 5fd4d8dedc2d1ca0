"""A bucket a governance action changed shows its new access on the Files page at once: the run re-reads
it from the emulator when it succeeds and when it is reverted, instead of waiting for the hourly scan."""

import pytest

from connectors.buckets import bucket_rescan
from connectors.models import Bucket
from governance import services
from governance.models import GovernanceRun
from tests.governance.conftest import COLLABORATOR_ID

pytestmark = pytest.mark.django_db


def _access(connector, name: str) -> str:
    return Bucket.objects.get(connector=connector, name=name).access


def test_make_private_and_its_revert_update_the_bucket_row_at_once(connector, public_bucket, operator):
    assert bucket_rescan(connector_id=connector.pk, name=public_bucket).access == Bucket.Access.PUBLIC
    public_since = Bucket.objects.get(name=public_bucket).public_since

    run = services.run_create(action_key="s3_make_private", connector=connector, target=public_bucket)
    services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    bucket = Bucket.objects.get(connector=connector, name=public_bucket)
    assert bucket.access == Bucket.Access.PRIVATE and bucket.public_since is None
    assert not any(grant["public"] for grant in bucket.grants)

    services.run_request_revert(run=run, by=operator)
    services.run_revert(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.REVERTED
    bucket = Bucket.objects.get(connector=connector, name=public_bucket)
    assert bucket.access == Bucket.Access.PUBLIC
    assert bucket.public_since > public_since, "public again is a new exposure"


def test_remove_collaborator_updates_the_grants_shown(connector, public_bucket):
    run = services.run_create(
        action_key="s3_remove_collaborator",
        connector=connector,
        target=public_bucket,
        parameters={"grantee": COLLABORATOR_ID},
    )
    services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.SUCCEEDED, run.error
    grantees = {grant["id"] for grant in Bucket.objects.get(connector=connector, name=public_bucket).grants}
    assert COLLABORATOR_ID not in grantees and grantees, "the other grants are still listed"


def test_a_failed_run_leaves_the_inventory_alone_and_a_deleted_bucket_loses_its_row(connector, s3):
    s3.create_bucket(Bucket="short-lived")
    assert bucket_rescan(connector_id=connector.pk, name="short-lived").access == Bucket.Access.PRIVATE
    s3.delete_bucket(Bucket="short-lived")

    run = services.run_create(action_key="s3_make_private", connector=connector, target="short-lived")
    services.run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == GovernanceRun.Status.FAILED
    assert _access(connector, "short-lived") == Bucket.Access.PRIVATE, "only a run that changed it re-reads"
    assert bucket_rescan(connector_id=connector.pk, name="short-lived") is None
    assert not Bucket.objects.filter(name="short-lived").exists()
