"""The file policy ``file_s3_bucket_public``: the pure evaluation, and the whole path from a connected
account's scan to an alert (with its governance target) in a real worker."""

from datetime import UTC, datetime, timedelta

import pytest

from policies.engine import PolicySpec, compile_policy
from policies.engine.buckets import BucketFacts, evaluate_buckets
from policies.engine.spec import TYPE_FILE

SCANNED = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
ALL_USERS_READ = {"grantee": "AllUsers", "permission": "READ", "public": True}


def policy(**overrides):
    spec = {"key": "file_s3_bucket_public", "name": "Public bucket", "severity": "medium", "type": TYPE_FILE}
    spec.update(id=7, template_key="file_s3_bucket_public")
    spec.update(overrides)
    return compile_policy(PolicySpec(**spec))


def bucket(name="press-kit", **overrides) -> BucketFacts:
    facts = {
        "name": name,
        "connector_id": 3,
        "connector": "Production",
        "group_key": f"bucket:3:{name}",
        "scanned_at": SCANNED,
        "account_id": "123456789012",
        "region": "us-east-1",
        "owner": "webfile",
        "public": True,
        "public_since": SCANNED - timedelta(hours=2),
        "public_grants": (ALL_USERS_READ,),
        "policy_public": False,
    }
    facts.update(overrides)
    return BucketFacts(**facts)


def test_a_public_bucket_is_one_finding_that_names_the_bucket_and_why():
    (finding,) = evaluate_buckets([policy()], [bucket(), bucket("orders", public=False, public_grants=())])
    assert finding.title == "S3 bucket press-kit is publicly accessible (AllUsers READ)"
    assert finding.severity == "medium" and finding.policy_id == 7
    assert finding.evidence["bucket"] == "press-kit" and finding.evidence["connector_id"] == 3
    assert finding.evidence["explanation"] == "The bucket ACL grants READ to everyone (AllUsers)."
    assert finding.group_key == "bucket:3:press-kit" and finding.extend_open
    assert finding.first_seen == SCANNED - timedelta(hours=2) and finding.last_seen == SCANNED


def test_the_same_exposure_keeps_its_key_and_a_new_one_gets_another():
    first = evaluate_buckets([policy()], [bucket()])[0]
    later = evaluate_buckets([policy()], [bucket(scanned_at=SCANNED + timedelta(hours=1))])[0]
    again = evaluate_buckets([policy()], [bucket(public_since=SCANNED + timedelta(days=1))])[0]
    assert first.key == later.key
    assert again.key != first.key and again.group_key == first.group_key


def test_a_public_policy_is_explained():
    (finding,) = evaluate_buckets([policy()], [bucket("web-static", public_grants=(), policy_public=True)])
    assert finding.title == "S3 bucket web-static is publicly accessible (public bucket policy)"
    assert "The bucket policy is public" in finding.evidence["explanation"]
    assert finding.evidence["policy_public"] is True


def test_filters_scope_the_policy_by_connector_bucket_name_and_region():
    everything = [bucket(), bucket("web-static", region="eu-west-1"), bucket("dev", connector="Staging")]

    def names(filters):
        return sorted(f.evidence["bucket"] for f in evaluate_buckets([policy(filters=filters)], everything))

    assert names([]) == ["dev", "press-kit", "web-static"]
    assert names([{"field": "resource", "operator": "not_in", "values": ["press-kit"]}]) == [
        "dev",
        "web-static",
    ]
    assert names([{"field": "connector", "operator": "equals", "values": ["Staging"]}]) == ["dev"]
    assert names([{"field": "region", "operator": "equals", "values": ["eu-west-1"]}]) == ["web-static"]


def test_only_public_bucket_file_policies_evaluate_buckets():
    activity_policy = compile_policy(PolicySpec(key="aws_s3_config_changes", name="S3 changes"))
    assert evaluate_buckets([activity_policy], [bucket()]) == []


@pytest.mark.django_db(transaction=True)
def test_connecting_an_account_raises_the_public_bucket_alert_in_a_worker(
    aws, connector_user, admin, celery_worker
):
    """On connect the bucket scan runs on the ingest queue, hands the buckets to detection by name,
    and the policy's alert names the bucket so governance can offer to make it private."""
    from alerts.models import Alert
    from connectors import services
    from connectors.models import Bucket
    from connectors.services import ConnectorSettings
    from governance.selectors import alert_targets
    from policies.models import Policy
    from policies.services import policies_install_builtin
    from tests.aws_fixtures import aws_client
    from tests.workers import wait_for

    policies_install_builtin()  # transactional tests start from an empty database
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="press-kit")
    s3.put_bucket_acl(Bucket="press-kit", ACL="public-read")
    Policy.objects.filter(template_key="file_s3_bucket_public").update(severity="low")
    connector = services.connector_save(
        config=ConnectorSettings(
            name="Production",
            access_key_id=connector_user.credentials.access_key_id,
            secret_access_key=connector_user.credentials.secret_access_key,
        ),
        by=admin,
    )
    alert = wait_for(
        lambda: Alert.objects.filter(policy__template_key="file_s3_bucket_public").first(), timeout=60
    )
    assert alert.evidence["bucket"] == "press-kit" and alert.evidence["connector_id"] == connector.pk
    assert alert.severity == "low" and alert.connector_id == connector.pk and alert.type == "file"
    assert alert_targets(alert=alert)["bucket"] == ["press-kit"]
    assert Bucket.objects.get(name="payments-reports").access == Bucket.Access.PRIVATE
    assert Alert.objects.filter(policy__template_key="file_s3_bucket_public").count() == 1
