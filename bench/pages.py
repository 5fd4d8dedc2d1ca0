"""Page server time at scale: 5,000,000 activities and 100,000 alerts (made by bulk SQL, not the ORM),
then each page requested through Django's test client in this process against PostgreSQL: p50 and p95
of the server time, each also as a ratio to a trivial page measured in the same run, and the queries
one request makes with their time. Prints figures; asserts nothing.

Adding a page is one line in PAGES. A page whose URL name does not resolve (an app not installed) is
left out. BENCH_ACTIVITIES, BENCH_ALERTS and BENCH_PAGE_REQUESTS set the sizes (defaults 5,000,000,
100,000 and 20).
"""

import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode

from _common import report
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Model
from django.db.models.fields import DateTimeField
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from alerts.models import Alert
from connectors.models import Activity, Connector
from defender import services as user_services
from policies.models import Policy
from policies.services import policies_install_builtin

ACTIVITIES = int(os.environ.get("BENCH_ACTIVITIES", "5000000"))
ALERTS = int(os.environ.get("BENCH_ALERTS", "100000"))
REQUESTS = int(os.environ.get("BENCH_PAGE_REQUESTS", "20"))
PRINCIPALS = 2000
ACCOUNT = "123456789012"
EVENTS = [  # (event source, event name, read-only)
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("s3.amazonaws.com", "ListBuckets", True),
    ("iam.amazonaws.com", "GetUser", True),
    ("sts.amazonaws.com", "AssumeRole", False),
    ("s3.amazonaws.com", "PutObject", False),
    ("signin.amazonaws.com", "ConsoleLogin", False),
    ("iam.amazonaws.com", "AttachUserPolicy", False),
    ("ec2.amazonaws.com", "RunInstances", False),
    ("ec2.amazonaws.com", "TerminateInstances", False),
    ("cloudtrail.amazonaws.com", "StopLogging", False),
]
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2", "us-west-2"]
COUNTRIES = ["US", "DE", "FR", "GB", "JP", "BR", "IN"]


@dataclass
class Data:
    connector_id: int
    alert_id: int
    activity_id: int
    policy_id: int


@dataclass
class Page:
    name: str
    url_name: str
    args: Callable[[Data], list] = field(default=lambda data: [])
    query: Callable[[Data], dict] = field(default=lambda data: {})


def activity_filter(key: str, value: Callable[[Data], str] | str, *, name: str = "") -> Page:
    return Page(
        f"activity_log.{name or key}",
        "connectors:activity",
        query=lambda data: {key: value(data) if callable(value) else value},
    )


PAGES = [
    Page("trivial", "login"),
    Page("dashboard", "home"),
    Page("alerts", "alerts:list"),
    Page("alerts.open_high", "alerts:list", query=lambda data: {"status": "open", "severity": "high"}),
    Page("alerts.by_severity", "alerts:list", query=lambda data: {"sort": "-severity"}),
    Page("alerts.principal", "alerts:list", query=lambda data: {"principal": "user7"}),
    Page("alert", "alerts:detail", args=lambda data: [data.alert_id]),
    Page("activity_log", "connectors:activity"),
    activity_filter("period", "24h"),
    activity_filter("principal", "user7"),
    activity_filter("principal", f"arn:aws:iam::{ACCOUNT}:user/user7", name="principal_arn"),
    activity_filter("ip", "10.7.3.1"),
    activity_filter("ip_category", "risky"),
    activity_filter("ip_tag", "Tor exit node"),
    activity_filter("country", "JP"),
    activity_filter("event_name", "ConsoleLogin"),
    activity_filter("service", "cloudtrail"),
    activity_filter("region", "ap-southeast-2"),
    activity_filter("administrative", "true"),
    activity_filter("result", "failed"),
    activity_filter("connector", lambda data: str(data.connector_id)),
    activity_filter("principal_type", "Root"),
    activity_filter("policy", lambda data: str(data.policy_id)),
    activity_filter("q", "StopLogging"),
    Page("activity_drawer", "connectors:activity_drawer", args=lambda data: [data.activity_id]),
    Page("api.activities", "activity-list"),
    Page("api.activities.principal", "activity-list", query=lambda data: {"principal": "user7"}),
    Page("api.alerts", "alert-list"),
    Page("api.policies", "policy-list"),
    Page("api.connectors", "connector-list"),
    Page("api.ipranges", "iprange-list"),
    Page("api.governance", "governance-run-list"),
]


# --- data ------------------------------------------------------------------------------------------


def _defaults(model: type[Model], explicit: dict[str, str]) -> tuple[list[str], list[str], list]:
    """Columns, SQL expressions and parameters for INSERT ... SELECT: ``explicit`` expressions by
    column, every other column its field's default (now() for a required time), so that fields other
    engineers add keep working."""
    columns, expressions, params = [], [], []
    for model_field in model._meta.concrete_fields:
        if model_field.primary_key or model_field.generated:
            continue
        columns.append(f'"{model_field.column}"')
        if model_field.column in explicit:
            expressions.append(explicit[model_field.column].replace("%", "%%"))
        elif (
            isinstance(model_field, DateTimeField) and not model_field.null and not model_field.has_default()
        ):
            expressions.append("now()")
        else:
            expressions.append("%s")
            params.append(model_field.get_db_prep_save(model_field.get_default(), connection))
    return columns, expressions, params


def _array(values: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{v}'" for v in values) + "]"


def make_activities(connector: Connector, count: int) -> None:
    sources, names, read_only = zip(*EVENTS, strict=True)
    services = [source.split(".")[0] for source in sources]
    pick = f"(1 + i % {len(EVENTS)})"
    explicit = {
        "connector_id": str(connector.pk),
        "event_id": "'bench-' || i",
        # Newest first every 1.5 s: 5,000,000 activities span 87 days.
        "event_time": "now() - i * interval '1.5 second'",
        "event_name": f"({_array(list(names))})[{pick}]",
        "event_source": f"({_array(list(sources))})[{pick}]",
        "service": f"({_array(services)})[{pick}]",
        "read_only": f"(ARRAY[{', '.join(str(r).lower() for r in read_only)}])[{pick}]",
        "administrative": f"NOT (ARRAY[{', '.join(str(r).lower() for r in read_only)}])[{pick}]",
        "region": f"({_array(REGIONS)})[1 + i % {len(REGIONS)}]",
        "recipient_account_id": f"'{ACCOUNT}'",
        "source_ip": "'10.' || (i % 13) || '.' || (i % 11) || '.1'",
        "ip_address": "('10.' || (i % 13) || '.' || (i % 11) || '.1')::inet",
        "principal": f"'arn:aws:iam::{ACCOUNT}:user/user' || (i % {PRINCIPALS})",
        "principal_name": f"'user' || (i % {PRINCIPALS})",
        "principal_type": "CASE WHEN i % 997 = 0 THEN 'Root' ELSE 'IAMUser' END",
        "succeeded": "i % 17 <> 0",
        "error_code": "CASE WHEN i % 17 = 0 THEN 'AccessDenied' ELSE '' END",
        "country": f"({_array(COUNTRIES)})[1 + i % {len(COUNTRIES)}]",
        "ip_category": "CASE WHEN i % 1000 = 0 THEN 'risky' ELSE '' END",
        "ip_tags": """CASE WHEN i % 1000 = 0 THEN '["Tor exit node"]'::jsonb ELSE '[]'::jsonb END""",
        "raw": "jsonb_build_object('eventID', 'bench-' || i)",
    }
    columns, expressions, params = _defaults(Activity, explicit)
    with connection.cursor() as cursor:
        # Building the indexes once after the load is several times faster than maintaining them.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'connectors_activity' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            f"INSERT INTO connectors_activity ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} FROM generate_series(1, %s) AS i",
            [*params, count],
        )
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("VACUUM ANALYZE connectors_activity")


def make_alerts(connector: Connector, count: int) -> None:
    policies = list(Policy.objects.order_by("pk").values_list("pk", "severity", "type", "name"))
    ids = "ARRAY[" + ", ".join(str(p[0]) for p in policies) + "]"
    severities = _array([p[1] for p in policies])
    types = _array([p[2] for p in policies])
    names = "ARRAY[" + ", ".join("'" + p[3].replace("'", "''") + "'" for p in policies) + "]"
    pick = f"(1 + i % {len(policies)})"
    explicit = {
        "title": f"({names})[{pick}] || ': activity by user' || (i % {PRINCIPALS})",
        "description": "'Benchmark alert ' || i",
        "severity": f"({severities})[{pick}]",
        "policy_id": f"({ids})[{pick}]",
        "type": f"({types})[{pick}]",
        "connector_id": str(connector.pk),
        "principal": f"'arn:aws:iam::{ACCOUNT}:user/user' || (i % {PRINCIPALS})",
        "principal_name": f"'user' || (i % {PRINCIPALS})",
        "status": f"({_array(Alert.Status.values)})[1 + i % {len(Alert.Status.values)}]",
        "activity_count": "2",
        "first_activity_at": "now() - i * interval '75 second'",
        "last_activity_at": "now() - i * interval '75 second'",
        "created_at": "now() - i * interval '75 second'",
        "dedup_key": "'bench-' || i",
    }
    columns, expressions, params = _defaults(Alert, explicit)
    through = Alert.activities.through._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO alerts_alert ({', '.join(columns)}) "
            f"SELECT {', '.join(expressions)} FROM generate_series(1, %s) AS i",
            [*params, count],
        )
        # Each alert links the two activities nearest its time.
        cursor.execute(
            f"INSERT INTO {through} (alert_id, activity_id) "
            "SELECT alert.id, activity.id FROM alerts_alert alert "
            "JOIN connectors_activity activity "
            f"ON activity.connector_id = {connector.pk} AND activity.event_id IN "
            "('bench-' || (substr(alert.dedup_key, 7)::int * 50), "
            "'bench-' || (substr(alert.dedup_key, 7)::int * 50 + 1)) "
            "WHERE starts_with(alert.dedup_key, 'bench-')"
        )
        cursor.execute("VACUUM ANALYZE alerts_alert")
        cursor.execute(f"VACUUM ANALYZE {through}")


# --- timing ----------------------------------------------------------------------------------------


def measure(client: Client, url: str) -> dict:
    status = client.get(url).status_code  # warm-up: caches, compiled templates
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    timings.sort()
    return {
        "status": status,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(timings[max(0, round(0.95 * len(timings)) - 1)], 1),
        "queries": len(queries),
        # The database's share of one request: tells a slow query from slow rendering.
        "db_ms": round(sum(float(query["time"]) for query in queries.captured_queries) * 1000, 1),
    }


def main() -> None:
    policies_install_builtin()
    connector, _ = Connector.objects.get_or_create(
        name="Benchmark pages", defaults={"status": Connector.Status.CONNECTED, "account_id": ACCOUNT}
    )
    started = time.perf_counter()
    if not Activity.objects.filter(connector=connector).exists():
        make_activities(connector, ACTIVITIES)
    activities_seconds = time.perf_counter() - started
    started = time.perf_counter()
    if not Alert.objects.filter(dedup_key__startswith="bench-").exists():
        make_alerts(connector, ALERTS)
    alerts_seconds = time.perf_counter() - started
    alert = Alert.objects.filter(dedup_key__startswith="bench-").order_by("-created_at").first()
    data = Data(
        connector_id=connector.pk,
        alert_id=alert.pk,
        activity_id=alert.activities.values_list("pk", flat=True).first(),
        policy_id=alert.policy_id,
    )
    # A second run on the same database (the data is kept) signs in as the first run's user.
    user = get_user_model().objects.filter(username="bench-admin").first() or user_services.user_create(
        username="bench-admin", role="admin", password="bench-password-1"
    )
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(user)
    figures: dict = {
        "activity_rows": Activity.objects.count(),
        "alert_rows": Alert.objects.count(),
        "generate_activities_seconds": round(activities_seconds, 1),
        "generate_alerts_seconds": round(alerts_seconds, 1),
        "requests_per_page": REQUESTS,
    }
    trivial_p95 = None
    for page in PAGES:
        try:
            url = reverse(page.url_name, args=page.args(data))
        except NoReverseMatch:
            continue
        query = page.query(data)
        result = measure(client, f"{url}?{urlencode(query)}" if query else url)
        if page.name == "trivial":
            trivial_p95 = result["p95_ms"]
        elif trivial_p95:
            result["p95_ratio_to_trivial"] = round(result["p95_ms"] / trivial_p95, 1)
        figures[page.name] = result
    figures["target_p95_ms"] = 150
    report("pages", figures)


if __name__ == "__main__":
    main()
