import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from connectors.ingestion.store import store_records
from connectors.models import Connector, SavedQuery
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db


@pytest.fixture
def connector(db):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    now = datetime.now(UTC)
    events = [
        record(at=now - timedelta(minutes=i), event_id=f"e{i:03d}", sourceIPAddress="81.2.69.160")
        for i in range(120)
    ]
    events.append(
        record(
            "iam_user_console_login_failure",
            at=now,
            event_id="login-fail",
            sourceIPAddress="=cmd|' /C calc'!A0",
        )
    )
    store_records(connector=connector, records=events, source="test")
    return connector


def rows(response) -> int:
    return response.content.count(b"data-row-open")


def test_keyset_pages_walk_every_activity_once(client_for, reader, connector):
    client = client_for(reader)
    seen = 0
    url = reverse("connectors:activity")
    response = client.get(url)
    while True:
        seen += rows(response)
        marker = b"cursor="
        if marker not in response.content:
            break
        cursor = response.content.split(marker, 1)[1].split(b'"', 1)[0].decode()
        response = client.get(url, {"cursor": cursor}, HTTP_HX_REQUEST="true")
    assert seen == 121


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"result": "failed"}, 1),
        ({"event_name": "ConsoleLogin"}, 1),
        ({"event_name": "Attach*"}, 50),
        ({"ip": "81.2.69.0/24"}, 50),
        ({"ip": "81.2.69.160"}, 50),
        ({"country": "GB"}, 50),
        ({"principal": "alice"}, 50),
        ({"administrative": "true"}, 50),
        ({"q": "e007"}, 1),
        ({"period": "1h"}, 50),
    ],
)
def test_filters(client_for, reader, connector, params, expected):
    assert rows(client_for(reader).get(reverse("connectors:activity"), params)) == expected


def test_csv_export_streams_the_filtered_set_and_defuses_formulas(client_for, reader, connector):
    response = client_for(reader).get(reverse("connectors:activity_export"), {"result": "failed"})
    body = b"".join(response.streaming_content).decode()
    table = list(csv.reader(io.StringIO(body)))
    assert len(table) == 2
    assert table[1][table[0].index("source_ip")].startswith("'=")


def test_saved_queries_are_private_unless_shared(client_for, reader, operator, connector):
    client_for(reader).post(
        reverse("connectors:saved_query_create"), {"name": "Mine", "query": "result=failed"}
    )
    client_for(reader).post(
        reverse("connectors:saved_query_create"), {"name": "Team", "query": "country=GB", "shared": "on"}
    )
    page = client_for(operator).get(reverse("connectors:activity")).content
    assert b"Team" in page and b"Mine" not in page
    assert SavedQuery.objects.count() == 2


def test_activity_page_query_count_is_bounded(client_for, reader, connector, django_assert_max_num_queries):
    client = client_for(reader)
    client.get("/")
    with django_assert_max_num_queries(10):
        client.get(reverse("connectors:activity"), {"country": "GB"})


def test_api_lists_with_filters_and_cursor(client_for, reader, connector):
    response = client_for(reader).get("/api/v1/activities/", {"result": "failed"})
    assert response.status_code == 200
    data = response.json()
    assert [a["event_id"] for a in data["results"]] == ["login-fail"]
    assert "raw" not in data["results"][0]
