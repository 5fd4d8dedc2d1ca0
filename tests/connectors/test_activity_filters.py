"""The activity filters that must stay fast at millions of rows: what the principal, IP category and IP
tag filters match (page and API alike), and, on PostgreSQL, that each reads the index made for it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse

from connectors.filters import ActivityFilter
from connectors.models import Activity, Connector

pytestmark = pytest.mark.django_db

ALICE = "arn:aws:iam::111111111111:user/alice"
ALICE_ELSEWHERE = "arn:aws:iam::222222222222:user/Alice"
SESSION = "arn:aws:sts::111111111111:assumed-role/Admin/alice"


def activity(connector: Connector, index: int, **fields) -> Activity:
    defaults = {
        "connector": connector,
        "event_id": f"e{index}",
        "event_time": datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=index),
        "event_name": "GetUser",
        "event_source": "iam.amazonaws.com",
        "service": "iam",
        "principal": "arn:aws:iam::111111111111:user/bob",
        "principal_name": "bob",
        "principal_type": Activity.PrincipalType.IAM_USER,
        "raw": {},
    }
    return Activity(**(defaults | fields))


@pytest.fixture
def activities(db):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    rows = [
        activity(connector, 1, principal=ALICE, principal_name="alice"),
        activity(connector, 2, principal=ALICE_ELSEWHERE, principal_name="Alice"),
        activity(
            connector,
            3,
            principal=SESSION,
            principal_name="alice",
            principal_type=Activity.PrincipalType.ASSUMED_ROLE,
        ),
        activity(
            connector,
            4,
            principal="ec2.amazonaws.com",
            principal_name="ec2.amazonaws.com",
            principal_type=Activity.PrincipalType.AWS_SERVICE,
        ),
        activity(
            connector,
            5,
            principal="unknown:AIDAEXAMPLE",
            principal_name="",
            principal_type=Activity.PrincipalType.UNKNOWN,
        ),
        activity(connector, 6, ip_category="risky", ip_tags=["Tor exit node", "Anonymous proxy"]),
        activity(connector, 7, ip_category="corporate", ip_tags=["HQ"]),
        activity(connector, 8, ip_category="risky", ip_tags=["Botnet"]),
    ]
    return {row.event_id: row for row in Activity.objects.bulk_create(rows)}


def page_ids(client, params) -> set[str]:
    response = client.get(reverse("connectors:activity"), params)
    assert response.status_code == 200
    return {row.event_id for row in response.context["page"].rows}


def api_ids(client, params) -> set[str]:
    response = client.get("/api/v1/activities/", params)
    assert response.status_code == 200
    return {row["event_id"] for row in response.json()["results"]}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        # A name matches every principal of that name, in any case; a key matches that principal only.
        ({"principal": "alice"}, {"e1", "e2", "e3"}),
        ({"principal": "  ALICE "}, {"e1", "e2", "e3"}),
        ({"principal": ALICE}, {"e1"}),
        ({"principal": SESSION}, {"e3"}),
        ({"principal": "ec2.amazonaws.com"}, {"e4"}),
        ({"principal": "unknown:AIDAEXAMPLE"}, {"e5"}),
        # Neither part of a name nor part of a key.
        ({"principal": "ali"}, set()),
        ({"principal": "user/alice"}, set()),
        ({"ip_category": "risky"}, {"e6", "e8"}),
        ({"ip_category": "corporate"}, {"e7"}),
        ({"ip_tag": "Tor exit node"}, {"e6"}),
        ({"ip_tag": "HQ"}, {"e7"}),
        ({"ip_tag": "Tor"}, set()),
        ({"ip_category": "risky", "ip_tag": "Botnet"}, {"e8"}),
    ],
)
def test_page_and_api_match_the_same_activities(client_for, reader, activities, params, expected):
    client = client_for(reader)
    assert page_ids(client, params) == expected
    assert api_ids(client, params) == expected


def test_filters_need_a_signed_in_user(client, activities):
    response = client.get(reverse("connectors:activity"), {"principal": "alice"})
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get("/api/v1/activities/", {"principal": "alice"}).status_code == 401


# --- plans on PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def many(db):
    """3,000 activities where the filtered values are rare, as at scale: PostgreSQL's planner then
    prefers the filter's index to walking the whole time index."""
    connector = Connector.objects.create(name="Busy", status=Connector.Status.CONNECTED)
    rows = []
    for index in range(3000):
        rare = index % 300 == 0
        rows.append(
            activity(
                connector,
                index,
                principal=f"arn:aws:iam::111111111111:user/user{index % 1000}",
                principal_name=f"user{index % 1000}",
                ip_category="risky" if rare else "",
                ip_tags=["Tor exit node"] if rare else [],
            )
        )
    small = Connector.objects.create(name="Small", status=Connector.Status.CONNECTED)
    rows += [activity(small, index, event_id=f"small{index}") for index in range(5)]
    Activity.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE connectors_activity")
    return small


def first_page_plan(params: dict) -> str:
    queryset = ActivityFilter(params, queryset=Activity.objects.all()).qs
    return queryset.order_by("-event_time", "-pk")[:51].explain()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="The indexes serve PostgreSQL's plans")
@pytest.mark.parametrize(
    ("params", "index"),
    [
        ({"principal": "User7"}, "activity_principal_name_time"),
        ({"principal": "arn:aws:iam::111111111111:user/user7"}, "activity_principal_time"),
        ({"ip_category": "risky"}, "activity_ip_category_time"),
        ({"ip_tag": "Tor exit node"}, "activity_ip_tags"),
    ],
)
def test_rare_values_are_found_through_their_index(many, params, index):
    assert index in first_page_plan(params)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="The indexes serve PostgreSQL's plans")
def test_a_small_account_is_found_through_its_connector_key(many):
    """No (connector, event_time) index: the foreign key's or the unique constraint's index finds the
    few rows of a small account instead of a walk through everyone's activity."""
    used = re.findall(r"using (\S+) on", first_page_plan({"connector": str(many.pk)}))
    assert used and all("connector" in name for name in used)
