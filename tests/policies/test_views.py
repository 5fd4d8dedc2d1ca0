"""Cloud apps > Policies pages: list, editor, preview, toggle, history, YAML export/import, roles."""

from datetime import UTC, datetime, timedelta

import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from alerts.models import Alert
from connectors.ingestion.store import store_records
from connectors.models import Connector
from policies.models import Policy, PolicyChange
from policies.services import policies_install_builtin, policy_save
from tests.cloudtrail import record

pytestmark = pytest.mark.django_db

SG_EVENTS = [
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "ModifySecurityGroupRules",
]


@pytest.fixture
def builtin(db):
    policies_install_builtin()
    return Policy.objects.get(template_key="aws_security_group_changes")


@pytest.fixture
def custom(db, admin):
    return policy_save(
        policy=None,
        data={
            "name": "Root console sign-ins",
            "severity": "high",
            "filters": [{"field": "event_name", "operator": "equals", "values": ["ConsoleLogin"]}],
        },
        by=admin,
    )


@pytest.fixture
def connector(db):
    return Connector.objects.create(
        name="Production", status=Connector.Status.CONNECTED, account_id="123456789012"
    )


def sg_record(*, at: datetime, region: str = "us-east-1", event_id: str | None = None) -> dict:
    event = record("ec2_run_instances", at=at, region=region, event_id=event_id)
    event.update(eventName="AuthorizeSecurityGroupIngress", readOnly=False)
    event["requestParameters"] = {"groupId": "sg-0123456789abcdef0"}
    event["responseElements"] = {"_return": True}
    return event


def editor_post(**overrides) -> dict:
    """What the editor posts for a custom activity policy (filter rows as parallel lists)."""
    data = {
        "name": "Security groups in us-east-1",
        "description": "",
        "severity": "high",
        "category": "Configuration",
        "mitre_tactic": "",
        "mitre_technique": "",
        "enabled": "on",
        "filter_field": ["event_source", "event_name", "region"],
        "filter_operator": ["equals", "in", "equals"],
        "filter_values": ["ec2.amazonaws.com", ", ".join(SG_EVENTS), "us-east-1"],
        "match_mode": "single",
        "repeat_count": "5",
        "repeat_minutes": "10",
        "repeat_group_by": "",
        "scope_include": "",
        "scope_exclude": "",
        "create_alert": "on",
        "daily_alert_limit": "100",
        "email_recipients": "",
        "webhook_url": "",
    }
    data.update(overrides)
    return data


# --------------------------------------------------------------------------------------------------
# Pages by role


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_every_page_opens_for_every_role(request, client_for, role, builtin, custom):
    client = client_for(request.getfixturevalue(role))
    anomaly = Policy.objects.get(template_key="anomaly_impossible_travel")
    for url in [
        "/policies/",
        "/policies/?type=activity",
        "/policies/?type=anomaly&q=travel",
        f"/policies/{builtin.pk}/",
        f"/policies/{anomaly.pk}/",
        f"/policies/{custom.pk}/history/",
        f"/policies/{custom.pk}/export.yaml",
    ]:
        assert client.get(url).status_code == 200, url
    operator_pages = [
        "/policies/new/activity/",
        "/policies/new/activity/edit/",
        "/policies/new/activity/edit/?template=aws_security_group_changes",
        "/policies/import/",
    ]
    for url in operator_pages:
        assert client.get(url).status_code == (403 if role == "reader" else 200), url


def test_list_shows_tabs_counts_and_the_toggle_for_operators(client_for, operator, builtin):
    page = client_for(operator).get("/policies/").content.decode()
    assert "Create policy" in page
    assert "Security group configuration changes" in page
    assert 'role="switch"' in page and '<form class="toggle-form"' in page
    activity = client_for(operator).get("/policies/?type=activity")
    assert len(activity.context["page"].object_list) == 10
    tabs = {tab["label"]: tab["count"] for tab in activity.context["tabs"]}
    assert tabs["Activity"] == 10 and tabs["All"] == Policy.objects.count()
    assert tabs["Anomaly detection"] == Policy.objects.filter(type="anomaly").count()


def test_reader_sees_everything_read_only(client_for, reader, builtin):
    listing = client_for(reader).get("/policies/").content.decode()
    assert "Create policy" not in listing
    assert "toggle-form" not in listing
    assert 'aria-disabled="true"' in listing
    page = client_for(reader).get(f"/policies/{builtin.pk}/").content.decode()
    assert "Your role can read this policy but not change it." in page
    assert ">Save<" not in page and "Preview" not in page and "Add filter" not in page
    assert "Export YAML" in page


def test_list_search_and_sort(client_for, reader, builtin):
    client = client_for(reader)
    found = client.get("/policies/?q=security+group").context["page"].object_list
    assert [p.name for p in found] == ["Security group configuration changes"]
    ordered = client.get("/policies/?type=activity&sort=-severity").context["page"].object_list
    assert ordered[0].severity == "high"


def test_list_counts_open_alerts_in_one_query(
    client_for, reader, builtin, connector, django_assert_max_num_queries
):
    now = timezone.now()
    for number, status in enumerate(["open", "in_progress", "resolved"]):
        Alert.objects.create(
            title=f"Alert {number}",
            severity="medium",
            policy=builtin,
            status=status,
            first_activity_at=now,
            last_activity_at=now,
            dedup_key=f"k{number}",
        )
    client = client_for(reader)
    client.get("/policies/")  # warm the session and permission caches
    with django_assert_max_num_queries(8):
        response = client.get("/policies/?type=activity&sort=-open_alerts")
    first = response.context["page"].object_list[0]
    assert first == builtin and first.open_alerts == 2
    assert client.get(f"/policies/{builtin.pk}/").context["open_alerts"] == 2


# --------------------------------------------------------------------------------------------------
# Writes need OPERATE


def test_reader_gets_403_on_every_post(client_for, reader, builtin):
    client = client_for(reader)
    before = builtin.modified_at
    posts = [
        ("/policies/new/activity/edit/", editor_post()),
        (f"/policies/{builtin.pk}/", editor_post(name="Renamed")),
        (f"/policies/{builtin.pk}/enabled/", {"enabled": "0"}),
        (f"/policies/{builtin.pk}/delete/", {}),
        ("/policies/preview/", editor_post()),
        ("/policies/import/", {"file": SimpleUploadedFile("p.yaml", b"name: X\n")}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    builtin.refresh_from_db()
    assert builtin.enabled and builtin.modified_at == before
    assert not Policy.objects.filter(name__in=["Renamed", "X", "Security groups in us-east-1"]).exists()


# --------------------------------------------------------------------------------------------------
# Create and edit


def test_template_prefills_the_editor_with_a_free_name(client_for, operator, builtin):
    response = client_for(operator).get("/policies/new/activity/edit/?template=aws_security_group_changes")
    form = response.context["form"]
    assert form.initial["name"] == "Security group configuration changes (2)"
    assert [row.field for row in form.filter_rows] == ["event_source", "event_name", "read_only"]
    assert "AuthorizeSecurityGroupIngress" in form.filter_rows[1].values
    page = response.content.decode()
    assert 'id="hints-event_name"' in page and "ModifySecurityGroupRules" in page
    assert 'value="user_suspend"' in page
    assert "governance module is installed" not in page


def test_template_list_offers_the_ten_aws_templates(client_for, operator):
    response = client_for(operator).get("/policies/new/activity/")
    assert len(response.context["templates"]) == 10
    assert "Security group configuration changes" in response.content.decode()


def test_create_from_the_security_group_template_saves_its_filters(client_for, operator, builtin):
    client = client_for(operator)
    form = client.get("/policies/new/activity/edit/?template=aws_security_group_changes").context["form"]
    data = editor_post(
        name=form.initial["name"],
        template_key="aws_security_group_changes",
        category=form.initial["category"],
        mitre_tactic=form.initial["mitre_tactic"],
        mitre_technique=form.initial["mitre_technique"],
        filter_field=[row.field for row in form.filter_rows] + ["region"],
        filter_operator=[row.operator for row in form.filter_rows] + ["equals"],
        filter_values=[row.values for row in form.filter_rows] + ["us-east-1"],
    )
    response = client.post("/policies/new/activity/edit/", data)
    policy = Policy.objects.get(name="Security group configuration changes (2)")
    assert response.status_code == 302 and response.url == f"/policies/{policy.pk}/"
    assert policy.template_key == "aws_security_group_changes"
    assert policy.severity == "high" and policy.created_by == operator
    assert policy.filters == [
        {"field": "event_source", "operator": "equals", "values": ["ec2.amazonaws.com"]},
        {"field": "event_name", "operator": "in", "values": SG_EVENTS},
        {"field": "read_only", "operator": "equals", "values": [False]},
        {"field": "region", "operator": "equals", "values": ["us-east-1"]},
    ]
    assert policy.changes.get().action == PolicyChange.Action.CREATED


def test_bad_filter_rows_show_the_engine_message_by_the_row(client_for, operator):
    client = client_for(operator)
    data = editor_post(
        filter_field=["event_source", "evnt_name", "region"],
        filter_operator=["equals", "equals", "in"],
        filter_values=["ec2.amazonaws.com", "RunInstances", ""],
    )
    response = client.post("/policies/new/activity/edit/", data)
    assert response.status_code == 200
    rows = response.context["form"].filter_rows
    assert rows[0].error == ""
    assert rows[1].error == "Unknown field 'evnt_name'"
    assert rows[2].error == "Operator 'in' needs a value"
    page = response.content.decode()
    assert "Unknown field &#x27;evnt_name&#x27;" in page and "Fix the filters below." in page
    assert 'value="evnt_name" selected' in page  # what was typed stays
    assert not Policy.objects.filter(name="Security groups in us-east-1").exists()


def test_field_errors_show_by_the_field(client_for, operator):
    response = client_for(operator).post(
        "/policies/new/activity/edit/",
        editor_post(name="", match_mode="repeated", repeat_count="1", email_recipients="not-an-address"),
    )
    errors = response.context["form"].errors
    assert "name" in errors and "repeat_count" in errors and "email_recipients" in errors


def test_edit_records_history_with_old_and_new(client_for, operator, custom):
    client = client_for(operator)
    data = editor_post(
        name=custom.name,
        severity="low",
        filter_field=["event_name"],
        filter_operator=["equals"],
        filter_values=["ConsoleLogin"],
        email_recipients="soc@example.com",
    )
    assert client.post(f"/policies/{custom.pk}/", data).status_code == 302
    custom.refresh_from_db()
    assert custom.severity == "low" and custom.email_recipients == ["soc@example.com"]
    change = custom.changes.first()
    assert change.changed_by == operator
    assert change.changes["severity"] == ["high", "low"]
    history = client.get(f"/policies/{custom.pk}/history/")
    page = history.content.decode()
    assert "oscar-operator" in page and "Severity" in page
    lines = history.context["entries"][0]["lines"]
    assert any(line.field == "Severity" and line.old == "high" and line.new == "low" for line in lines)
    assert history.context["entries"][-1]["change"].action == "created"


def test_anomaly_policy_has_the_simpler_editor(client_for, operator, builtin):
    policy = Policy.objects.get(template_key="anomaly_impossible_travel")
    client = client_for(operator)
    page = client.get(f"/policies/{policy.pk}/").content.decode()
    assert "What the detector learns and when it alerts" in page
    assert "too far apart" in page and "Add filter" not in page
    data = {
        "enabled": "on",
        "severity": "high",
        "sensitivity": "high",
        "scope_include": "",
        "scope_exclude": "arn:aws:iam::123456789012:user/traveller",
        "create_alert": "on",
        "daily_alert_limit": "50",
        "email_recipients": "",
        "webhook_url": "",
    }
    assert client.post(f"/policies/{policy.pk}/", data).status_code == 302
    policy.refresh_from_db()
    assert policy.settings["sensitivity"] == "high" and policy.settings["max_speed_kmh"] == 900
    assert policy.scope_exclude == ["arn:aws:iam::123456789012:user/traveller"]
    assert policy.severity == "high" and policy.daily_alert_limit == 50


def test_toggle(client_for, operator, builtin):
    client = client_for(operator)
    response = client.post(
        f"/policies/{builtin.pk}/enabled/", {"enabled": "0", "next": "/policies/?type=activity"}
    )
    assert response.status_code == 302 and response.url == "/policies/?type=activity"
    builtin.refresh_from_db()
    assert not builtin.enabled
    assert builtin.changes.first().changes == {"enabled": [True, False]}
    response = client.post(
        f"/policies/{builtin.pk}/enabled/", {"enabled": "1", "next": "https://evil.example/"}
    )
    assert response.url == f"/policies/{builtin.pk}/"
    builtin.refresh_from_db()
    assert builtin.enabled


def test_delete(client_for, operator, custom):
    assert client_for(operator).post(f"/policies/{custom.pk}/delete/").status_code == 302
    assert not Policy.objects.filter(pk=custom.pk).exists()


# --------------------------------------------------------------------------------------------------
# Preview


def test_preview_returns_the_matching_stored_activities(client_for, operator, connector, builtin):
    now = datetime.now(UTC).replace(microsecond=0)
    store_records(
        connector=connector,
        records=[
            sg_record(at=now - timedelta(hours=1), event_id="sg-east"),
            sg_record(at=now - timedelta(hours=2), region="eu-west-1", event_id="sg-west"),
            sg_record(at=now - timedelta(days=3), event_id="sg-east-old"),
            record("iam_user_api_call", at=now - timedelta(minutes=5), event_id="other"),
        ],
        source="test",
    )
    alerts_before = Alert.objects.count()
    client = client_for(operator)
    response = client.post("/policies/preview/", editor_post(preview_days="1"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.context["result"]["count"] == 1
    assert [a.event_id for a in response.context["rows"]] == ["sg-east"]
    page = response.content.decode()
    assert "AuthorizeSecurityGroupIngress" in page and "/activity/" in page
    week = client.post("/policies/preview/", editor_post(preview_days="7"))
    assert [a.event_id for a in week.context["rows"]] == ["sg-east", "sg-east-old"]
    repeated = client.post(
        "/policies/preview/",
        editor_post(
            preview_days="30",
            filter_field=["event_name"],
            filter_operator=["equals"],
            filter_values=["AuthorizeSecurityGroupIngress"],
            match_mode="repeated",
            repeat_count="2",
            repeat_minutes="180",
            repeat_group_by="principal",
        ),
    )
    assert repeated.context["result"]["count"] == 3 and repeated.context["result"]["alerts"] == 1
    assert Alert.objects.count() == alerts_before
    assert not Policy.objects.filter(name="Security groups in us-east-1").exists()


def test_preview_of_a_bad_draft_says_what_is_wrong(client_for, operator):
    response = client_for(operator).post(
        "/policies/preview/",
        editor_post(filter_field=["country"], filter_operator=["is_set"], filter_values=["RO"]),
    )
    assert response.status_code == 200
    assert "Filter row 1: Operator &#x27;is_set&#x27; takes no value" in response.content.decode()


# --------------------------------------------------------------------------------------------------
# YAML


def test_yaml_export_import_round_trip(client_for, operator, custom):
    client = client_for(operator)
    exported = client.get(f"/policies/{custom.pk}/export.yaml")
    assert exported["Content-Disposition"] == 'attachment; filename="root-console-sign-ins.yaml"'
    document = yaml.safe_load(exported.content)
    assert document["name"] == "Root console sign-ins"
    assert document["filters"] == custom.filters

    # Import as a new policy (another name), then update the original by name.
    document["name"] = "Root console sign-ins (copy)"
    upload = SimpleUploadedFile("copy.yaml", yaml.safe_dump(document).encode())
    response = client.post("/policies/import/", {"file": upload})
    copy = Policy.objects.get(name="Root console sign-ins (copy)")
    assert response.status_code == 302 and response.url == f"/policies/{copy.pk}/"
    assert copy.filters == custom.filters and copy.severity == "high" and copy.created_by == operator

    document["name"] = custom.name
    document["severity"] = "low"
    upload = SimpleUploadedFile("update.yaml", yaml.safe_dump(document).encode())
    assert client.post("/policies/import/", {"file": upload}).status_code == 302
    custom.refresh_from_db()
    assert custom.severity == "low"
    assert custom.changes.first().changes == {"severity": ["high", "low"]}
    assert Policy.objects.filter(name__startswith="Root console sign-ins").count() == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"- just\n- a list\n", "holds one policy"),
        (b"name: X\nseverity: urgent\n", "severity"),
        (b"name: X\nfilters:\n  - {field: evnt_name, operator: equals, values: [A]}\n", "Unknown field"),
        (b"name: X\ncolour: blue\n", "Unknown field &#x27;colour&#x27;"),
        (b"name: [unclosed\n", "not a YAML"),
    ],
)
def test_import_rejects_bad_files_by_the_field(client_for, operator, content, message):
    response = client_for(operator).post(
        "/policies/import/", {"file": SimpleUploadedFile("bad.yaml", content)}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Policy.objects.filter(name="X").exists()
