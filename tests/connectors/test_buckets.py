"""The S3 bucket inventory against the local AWS emulator, the Files page and /api/v1/buckets/."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from alerts.models import Alert
from alerts.services import detect_buckets
from connectors import buckets, services
from connectors.iam_policies import READ_ONLY_ACTIONS
from connectors.models import Bucket, Connector
from connectors.services import ConnectorSettings
from connectors.tasks import buckets_scan_task
from localaws.scenario.calls import public_read_policy
from tests.aws_fixtures import aws_client

pytestmark = pytest.mark.django_db

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


@pytest.fixture
def account_buckets(aws):
    """Buckets as the demo scenario makes them: public by ACL, by bucket policy, and private ones."""
    s3 = aws_client("s3", aws.endpoint_url)
    s3.create_bucket(Bucket="press-kit")
    s3.put_bucket_acl(Bucket="press-kit", ACL="public-read")
    s3.create_bucket(Bucket="partner-drop")
    s3.put_bucket_acl(Bucket="partner-drop", ACL="authenticated-read")
    s3.create_bucket(Bucket="web-static", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_policy(Bucket="web-static", Policy=json.dumps(public_read_policy("web-static")))
    s3.create_bucket(Bucket="orders")
    return s3


@pytest.fixture
def reader_of_everything(make_iam_user, seeded_account):
    """The least-privilege read-only policy. moto 5 authorizes GetPublicAccessBlock as s3:ListBucket
    (its action map misses the ?publicAccessBlock query) where AWS asks for
    s3:GetBucketPublicAccessBlock: grant both."""
    return make_iam_user("defender-readonly", [*READ_ONLY_ACTIONS, "s3:ListBucket"])


def connect(user, admin, capture, name="Production") -> Connector:
    with capture():
        return services.connector_save(
            config=ConnectorSettings(
                name=name,
                access_key_id=user.credentials.access_key_id,
                secret_access_key=user.credentials.secret_access_key,
            ),
            by=admin,
        )


def scan(connector: Connector, capture) -> list[int]:
    with capture() as callbacks:
        ids = buckets.buckets_scan(connector_id=connector.pk)
    assert len(callbacks) == 1, "the scanned buckets go to detection once the scan is committed"
    return ids


def test_connecting_queues_a_bucket_scan_on_the_ingest_queue(
    aws, connector_user, admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        services.connector_save(
            config=ConnectorSettings(
                name="Production",
                access_key_id=connector_user.credentials.access_key_id,
                secret_access_key=connector_user.credentials.secret_access_key,
            ),
            by=admin,
        )
    assert len(callbacks) == 3  # activity, IAM users, buckets
    from defender.celery import app

    assert app.amqp.router.route({}, "connectors.scan_buckets")["queue"].name == "ingest"
    assert app.amqp.router.route({}, "connectors.scan_buckets_all")["queue"].name == "ingest"
    assert app.amqp.router.route({}, "policies.detect_buckets")["queue"].name == "detect"
    from defender.schedule import BEAT_SCHEDULE

    assert BEAT_SCHEDULE["connectors-scan-buckets"] == {
        "task": "connectors.scan_buckets_all",
        "schedule": 60 * 60,
    }
    assert buckets_scan_task.name == "connectors.scan_buckets"


def test_scan_finds_public_grants_public_policies_and_private_buckets(
    aws, account_buckets, reader_of_everything, admin, django_capture_on_commit_callbacks
):
    connector = connect(reader_of_everything, admin, django_capture_on_commit_callbacks)
    aws.enable_auth()
    ids = scan(connector, django_capture_on_commit_callbacks)

    found = {bucket.name: bucket for bucket in Bucket.objects.filter(connector=connector)}
    assert sorted(ids) == sorted(bucket.pk for bucket in found.values())
    assert set(found) == {
        "press-kit",
        "partner-drop",
        "web-static",
        "orders",
        "defender-trail-logs",
        "payments-reports",
    }
    press = found["press-kit"]
    assert press.access == Bucket.Access.PUBLIC
    assert [(g["grantee"], g["permission"], g["uri"]) for g in press.public_grants] == [
        ("AllUsers", "READ", ALL_USERS)
    ]
    assert press.scan_errors == {}
    assert press.policy_public is False and press.public_access_block == {}
    assert press.region == "us-east-1" and press.owner and press.public_since == press.last_scanned
    assert [(g["grantee"], g["permission"]) for g in found["partner-drop"].public_grants] == [
        ("AuthenticatedUsers", "READ")
    ]
    static = found["web-static"]
    assert static.access == Bucket.Access.PUBLIC and static.region == "eu-west-1"
    assert static.public_grants == [] and static.policy_makes_public
    for private in ("orders", "defender-trail-logs", "payments-reports"):
        assert found[private].access == Bucket.Access.PRIVATE, private
        assert found[private].public_since is None
    # The owner's own FULL_CONTROL grant is listed, and is not public.
    assert any(g["permission"] == "FULL_CONTROL" and not g["public"] for g in found["orders"].grants)
    assert all(not bucket.scan_errors for bucket in found.values())


def test_missing_policy_status_and_public_access_block_permissions_are_tolerated_and_shown(
    aws, account_buckets, connector_user, admin, operator, client_for, django_capture_on_commit_callbacks
):
    # The seed's policy grants GetBucketAcl and GetBucketLocation, not the two optional reads.
    connector = connect(connector_user, admin, django_capture_on_commit_callbacks)
    aws.enable_auth()
    scan(connector, django_capture_on_commit_callbacks)

    static = Bucket.objects.get(name="web-static")
    assert static.policy_public is None and static.public_access_block is None
    assert set(static.scan_errors) == {"s3:GetBucketPolicyStatus", "s3:GetBucketPublicAccessBlock"}
    assert "AccessDenied" in static.scan_errors["s3:GetBucketPolicyStatus"]
    assert static.access == Bucket.Access.PRIVATE  # its ACL is private; its policy could not be read
    assert Bucket.objects.get(name="press-kit").access == Bucket.Access.PUBLIC

    page = client_for(operator).get(reverse("connectors:files"))
    assert b"Not read: policy status, public access block" in page.content
    drawer = client_for(operator).get(reverse("connectors:file_drawer", args=[static.pk]))
    assert b"Not permitted: s3:GetBucketPolicyStatus is not granted" in drawer.content


def test_public_bucket_raises_exactly_one_alert_across_scans_and_a_new_one_after_it_is_public_again(
    aws, account_buckets, read_only_user, admin, django_capture_on_commit_callbacks
):
    connector = connect(read_only_user, admin, django_capture_on_commit_callbacks)
    for _ in range(3):
        detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    alerts = Alert.objects.filter(policy__template_key="file_s3_bucket_public")
    assert sorted(a.evidence["bucket"] for a in alerts) == ["partner-drop", "press-kit", "web-static"]
    press = alerts.get(evidence__bucket="press-kit")
    assert press.evidence["connector_id"] == connector.pk
    assert "press-kit" in press.title and "AllUsers READ" in press.title
    assert "grants READ to everyone (AllUsers)" in press.evidence["explanation"]
    assert alerts.get(evidence__bucket="web-static").evidence["policy_public"] is True

    # Resolved while still public: scans go on finding the same (resolved) alert.
    Alert.objects.filter(pk=press.pk).update(status=Alert.Status.RESOLVED)
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    assert alerts.filter(evidence__bucket="press-kit").count() == 1

    # Made private, then public again: a new exposure, a new alert.
    account_buckets.put_bucket_acl(Bucket="press-kit", ACL="private")
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    assert Bucket.objects.get(name="press-kit").public_since is None
    account_buckets.put_bucket_acl(
        Bucket="press-kit", GrantRead=f'uri="{ALL_USERS}"', GrantWrite=f'uri="{ALL_USERS}"'
    )
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    press_alerts = alerts.filter(evidence__bucket="press-kit").order_by("pk")
    assert [a.status for a in press_alerts] == [Alert.Status.RESOLVED, Alert.Status.OPEN]
    assert "(AllUsers READ, AllUsers WRITE)" in press_alerts[1].title

    # Private and public again while its alert is still open: that alert stays the only open one.
    account_buckets.put_bucket_acl(Bucket="partner-drop", ACL="private")
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    account_buckets.put_bucket_acl(Bucket="partner-drop", ACL="authenticated-read")
    detect_buckets(bucket_ids=scan(connector, django_capture_on_commit_callbacks))
    assert alerts.filter(evidence__bucket="partner-drop").count() == 1


def test_buckets_gone_from_aws_are_removed_and_a_disconnected_account_is_not_scanned(
    aws, account_buckets, read_only_user, admin, django_capture_on_commit_callbacks
):
    connector = connect(read_only_user, admin, django_capture_on_commit_callbacks)
    scan(connector, django_capture_on_commit_callbacks)
    account_buckets.delete_bucket(Bucket="orders")
    scan(connector, django_capture_on_commit_callbacks)
    assert not Bucket.objects.filter(name="orders").exists()
    Connector.objects.filter(pk=connector.pk).update(status=Connector.Status.DISABLED)
    assert buckets.buckets_scan(connector_id=connector.pk) is None


# --------------------------------------------------------------------------------------------------
# The Files page


def make_bucket(connector: Connector, name: str, *, public: bool = False, region: str = "us-east-1"):
    grants = [{"grantee": "owner", "grantee_type": "CanonicalUser", "id": "abc", "uri": ""}]
    grants[0].update(permission="FULL_CONTROL", public=False, ignored=False)
    if public:
        grants.append(
            {
                "grantee": "AllUsers",
                "grantee_type": "Group",
                "id": "",
                "uri": ALL_USERS,
                "permission": "READ",
                "public": True,
                "ignored": False,
            }
        )
    return Bucket.objects.create(
        connector=connector,
        name=name,
        region=region,
        owner="webfile",
        access=Bucket.Access.PUBLIC if public else Bucket.Access.PRIVATE,
        grants=grants,
        policy_public=False,
        public_access_block={},
        public_since=timezone.now() if public else None,
        last_scanned=timezone.now(),
    )


@pytest.fixture
def production(db):
    return Connector.objects.create(
        name="Production",
        account_id="123456789012",
        status=Connector.Status.CONNECTED,
        governance_enabled=True,
    )


def test_files_page_needs_a_signed_in_user(client):
    response = client.get(reverse("connectors:files"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_files_page_lists_buckets_with_access_and_actions_for_operators_only(
    production, reader, operator, client_for
):
    make_bucket(production, "press-kit", public=True)
    make_bucket(production, "orders")
    run_url = reverse("governance:run_new")

    page = client_for(operator).get(reverse("connectors:files"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "press-kit" in html and "orders" in html and "1 publicly accessible." in html
    assert f"{run_url}?action=s3_make_private&amp;connector={production.pk}&amp;target=press-kit" in html
    assert (
        f"action=s3_remove_collaborator&amp;connector={production.pk}&amp;target=press-kit"
        "&amp;grantee=http%3A//acs.amazonaws.com/groups/global/AllUsers" in html
    )

    read_only = client_for(reader).get(reverse("connectors:files")).content.decode()
    assert "press-kit" in read_only
    assert "s3_make_private" not in read_only and "Scan now" not in read_only


def test_actions_are_disabled_with_the_reason_when_governance_is_off(production, operator, client_for):
    Connector.objects.filter(pk=production.pk).update(
        governance_enabled=False, governance_reason="s3:PutBucketAcl is not granted to defender-readonly."
    )
    bucket = make_bucket(production, "press-kit", public=True)
    html = client_for(operator).get(reverse("connectors:files")).content.decode()
    assert "s3_make_private" not in html
    assert "Data governance is disabled for Production: s3:PutBucketAcl is not granted" in html
    drawer = client_for(operator).get(reverse("connectors:file_drawer", args=[bucket.pk])).content.decode()
    assert "s3_make_private" not in drawer and "s3:PutBucketAcl is not granted" in drawer


def test_files_page_filters(production, reader, client_for):
    staging = Connector.objects.create(name="Staging", status=Connector.Status.CONNECTED)
    make_bucket(production, "press-kit", public=True)
    make_bucket(production, "orders")
    make_bucket(production, "eu-exports", region="eu-west-1")
    make_bucket(staging, "staging-assets", public=True)
    client = client_for(reader)

    def names(**params) -> set[str]:
        page = client.get(reverse("connectors:files"), params)
        return {bucket.name for bucket in page.context["page"]}

    assert names() == {"press-kit", "orders", "eu-exports", "staging-assets"}
    assert names(access="public") == {"press-kit", "staging-assets"}
    assert names(access="private") == {"orders", "eu-exports"}
    assert names(region="eu-west-1") == {"eu-exports"}
    assert names(connector=staging.pk) == {"staging-assets"}
    assert names(q="ORD") == {"orders"}
    assert names(q="webfile", access="public", connector=production.pk) == {"press-kit"}
    empty = client.get(reverse("connectors:files"), {"q": "nothing-like-this"})
    assert b"No bucket matches these filters" in empty.content


def test_files_page_query_count_is_bounded_and_open_alerts_are_linked(
    production, reader, client_for, django_assert_max_num_queries
):
    for number in range(40):
        make_bucket(production, f"bucket-{number:02}", public=number % 2 == 0)
    public = Bucket.objects.get(name="bucket-00")
    alert = Alert.objects.create(
        title="S3 bucket bucket-00 is publicly accessible",
        severity="high",
        type="file",
        connector=production,
        group_key=public.alert_group_key,
        evidence={"bucket": public.name, "connector_id": production.pk},
        first_activity_at=timezone.now(),
        last_activity_at=timezone.now(),
        dedup_key="files-page-test",
    )
    client = client_for(reader)
    client.get("/")
    with django_assert_max_num_queries(12):
        page = client.get(reverse("connectors:files"))
    assert f'href="{reverse("alerts:detail", args=[alert.pk])}"'.encode() in page.content


def test_scan_now_is_for_operators(
    production, reader, operator, client_for, django_capture_on_commit_callbacks
):
    assert client_for(reader).post(reverse("connectors:files_scan")).status_code == 403
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(operator).post(reverse("connectors:files_scan"))
    assert response.status_code == 302 and len(callbacks) == 1


# --------------------------------------------------------------------------------------------------
# /api/v1/buckets/


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_api_lists_filters_and_retrieves_buckets_read_only(production, reader, admin, client):
    staging = Connector.objects.create(name="Staging", status=Connector.Status.CONNECTED)
    press = make_bucket(production, "press-kit", public=True)
    make_bucket(production, "eu-exports", region="eu-west-1")
    make_bucket(staging, "staging-assets")
    api = api_for(reader)

    def names(**params) -> set[str]:
        response = api.get("/api/v1/buckets/", params)
        assert response.status_code == 200, response.content
        return {row["name"] for row in response.data["results"]}

    assert names() == {"press-kit", "eu-exports", "staging-assets"}
    assert names(access="public") == {"press-kit"}
    assert names(region="eu-west-1") == {"eu-exports"}
    assert names(connector=staging.pk) == {"staging-assets"}
    assert names(search="PRESS") == {"press-kit"}

    detail = api.get(f"/api/v1/buckets/{press.pk}/").data
    assert detail["connector_name"] == "Production" and detail["account_id"] == "123456789012"
    assert detail["access"] == "public"
    assert [g["grantee"] for g in detail["grants"] if g["public"]] == ["AllUsers"]

    assert client.get("/api/v1/buckets/").status_code in {401, 403}
    assert api.post("/api/v1/buckets/", {"name": "x"}).status_code == 403  # readers write nothing
    assert api_for(admin).post("/api/v1/buckets/", {"name": "x"}).status_code == 405
    assert api_for(admin).delete(f"/api/v1/buckets/{press.pk}/").status_code == 405
