"""The filter language: operators on every kind of field, validation messages, and the database
translation agreeing with the compiled predicate."""

import pytest

from connectors.models import Activity, Connector
from policies.detection import activity_rows
from policies.engine import FilterError, compile_filters, validate_filters
from policies.engine.fields import as_activity
from policies.queries import filters_q, scope_q
from tests.policies.activities import RISKY_IP, activity, call, console_login, store

ATTACH = activity(call("AttachUserPolicy", "iam.amazonaws.com"))
STOP_FAILED = activity(call("StopLogging", "cloudtrail.amazonaws.com", error="AccessDenied", ip=RISKY_IP))
BY_SERVICE = activity(call("StopLogging", "cloudtrail.amazonaws.com", ip="cloudtrail.amazonaws.com"))
LOGIN = activity(console_login(failed=True))
BUCKET = activity(call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl"))
ALL = {"attach": ATTACH, "stop": STOP_FAILED, "service": BY_SERVICE, "login": LOGIN, "bucket": BUCKET}


def which(*rows) -> set[str]:
    predicate = compile_filters(list(rows))
    return {name for name, a in ALL.items() if predicate(a)}


def row(field, operator, *values):
    return {"field": field, "operator": operator, "values": list(values)}


def test_text_operators():
    assert which(row("event_name", "equals", "StopLogging")) == {"stop", "service"}
    assert which(row("event_name", "not_equals", "StopLogging")) == {"attach", "login", "bucket"}
    assert which(row("event_name", "in", "StopLogging", "ConsoleLogin")) == {"stop", "service", "login"}
    assert which(row("event_name", "not_in", "StopLogging", "ConsoleLogin")) == {"attach", "bucket"}
    assert which(row("event_name", "contains", "logg")) == {"stop", "service"}
    assert which(row("event_name", "starts_with", "put", "attach")) == {"bucket", "attach"}
    assert which(row("error_code", "is_set")) == {"stop"}
    assert which(row("error_code", "is_not_set")) == {"attach", "service", "login", "bucket"}
    assert which(row("user_agent", "contains", "Mozilla")) == {"login"}
    assert which(row("principal_name", "equals", "dave")) == {"login"}


def test_equals_is_exact_contains_ignores_case():
    assert which(row("event_name", "equals", "stoplogging")) == set()
    assert which(row("event_name", "contains", "STOPLOG")) == {"stop", "service"}


def test_absent_values_are_not_set_and_never_equal():
    assert which(row("ip_address", "is_not_set")) == {"service"}
    assert which(row("ip_address", "not_equals", "203.0.113.10")) == {"stop", "service", "login"}
    assert which(row("source_ip", "equals", "cloudtrail.amazonaws.com")) == {"service"}
    assert which(row("mfa_used", "is_set")) == {"login"}
    assert which(row("mfa_used", "equals", "false")) == {"login"}
    assert which(row("mfa_used", "not_equals", True)) == set(ALL)


def test_boolean_fields():
    assert which(row("succeeded", "equals", False)) == {"stop", "login"}
    assert which(row("succeeded", "equals", "true")) == {"attach", "service", "bucket"}
    assert which(row("administrative", "equals", "yes")) == {"attach", "stop", "service", "bucket"}
    assert which(row("read_only", "in", True, False)) == set(ALL)


def test_ip_category_tags_country_and_resources():
    assert which(row("ip_category", "equals", "risky")) == {"stop"}
    assert which(row("ip_category", "in", "corporate")) == {"attach", "bucket"}
    assert which(row("resource", "equals", "finance-reports")) == {"bucket"}
    assert which(row("resource", "contains", "FINANCE")) == {"bucket"}
    assert which(row("resource_type", "equals", "AWS::S3::Bucket")) == {"bucket"}
    assert which(row("resource", "is_not_set")) == {"attach", "stop", "service", "login"}
    assert which(row("resource", "not_in", "finance-reports")) == {"attach", "stop", "service", "login"}
    tagged = dict(ATTACH, ip_tags=["Tor exit node"])
    assert compile_filters([row("ip_tags", "equals", "Tor exit node")])(tagged)
    assert not compile_filters([row("ip_tags", "not_in", "Tor exit node", "Botnet")])(tagged)
    assert compile_filters([row("ip_tags", "starts_with", "tor")])(tagged)
    # Country codes compare upper-case whatever the filter says.
    assert which(row("country", "equals", "de")) == {"stop"}
    assert which(row("country", "in", "DE", "GB")) == {"stop"}
    assert which(row("country", "is_not_set")) == {"attach", "service", "login", "bucket"}


def test_rows_all_hold_and_no_rows_match_everything():
    assert which(row("event_name", "equals", "StopLogging"), row("succeeded", "equals", False)) == {"stop"}
    assert which() == set(ALL)


def test_ip_addresses_compare_canonically():
    mapped = dict(ATTACH, ip_address="203.0.113.10")
    assert compile_filters([row("ip_address", "equals", "::ffff:203.0.113.10")])(mapped)
    assert compile_filters([row("ip_address", "starts_with", "203.0.")])(mapped)


def test_model_instances_and_normalized_activities_are_read_too():
    instance = Activity(**{k: v for k, v in LOGIN.items() if k != "id"})
    assert compile_filters([row("console_login", "equals", "Failure")])(as_activity(instance))


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([row("evnt_name", "equals", "x")], "Unknown field 'evnt_name'"),
        ([row("event_name", "contains")], "Operator 'contains' needs a value"),
        ([row("event_name", "in")], "Operator 'in' needs a value"),
        ([row("event_name", "equals", " ")], "Operator 'equals' needs a value"),
        ([row("event_name", "equals", "a", "b")], "Operator 'equals' takes one value; use 'in' for several"),
        ([row("event_name", "eq", "a")], "Unknown operator 'eq'"),
        ([row("error_code", "is_set", "x")], "Operator 'is_set' takes no value"),
        ([row("succeeded", "contains", "t")], "Operator 'contains' does not apply to field 'succeeded'"),
        ([row("succeeded", "equals", "maybe")], "Field 'succeeded' takes true or false, not 'maybe'"),
        ([row("ip_address", "equals", "10.0.0")], "'10.0.0' is not an IP address"),
        ([{"operator": "equals", "values": ["x"]}], "A filter row needs a field"),
        ([{"field": "region", "values": ["x"]}], "A filter on 'region' needs an operator"),
        ([{"field": "region", "operator": "equals", "valeus": ["x"]}], "Unknown key 'valeus'"),
        (["event_name = x"], "A filter row must be an object"),
        ({"field": "region"}, "Filters must be a list"),
    ],
)
def test_validation_messages(filters, message):
    with pytest.raises(FilterError) as caught:
        compile_filters(filters)
    assert message in caught.value.messages[0]


def test_every_problem_is_reported_with_its_row():
    with pytest.raises(FilterError) as caught:
        validate_filters(
            [row("region", "equals", "eu-west-1"), row("evnt_name", "equals", "x"), row("x", "y")]
        )
    assert caught.value.messages == ["Unknown field 'evnt_name'", "Unknown field 'x'"]
    assert caught.value.described == ["Row 2: Unknown field 'evnt_name'", "Row 3: Unknown field 'x'"]


def test_a_single_value_may_be_given_as_value():
    (condition,) = validate_filters([{"field": "country", "operator": "equals", "value": "ro"}])
    assert condition.values == ("RO",)


# --------------------------------------------------------------------------------------------------
# The database translation gives the same answers (preview and repeated windows rely on it).


@pytest.fixture
def stored(db):
    connector = Connector.objects.create(name="Production", status=Connector.Status.CONNECTED)
    events = [
        call("AttachUserPolicy", "iam.amazonaws.com"),
        call("StopLogging", "cloudtrail.amazonaws.com", error="AccessDenied", ip=RISKY_IP),
        call("StopLogging", "cloudtrail.amazonaws.com", ip="cloudtrail.amazonaws.com"),
        console_login(failed=True),
        console_login(failed=False),
        call("PutBucketAcl", "s3.amazonaws.com", fixture="s3_put_bucket_acl"),
        call("ListBuckets", "s3.amazonaws.com", read_only=True, user="bob"),
    ]
    store(connector, events)
    return list(activity_rows(Activity.objects.all()))


FILTER_SETS = [
    [row("event_name", "equals", "StopLogging")],
    [row("event_name", "not_equals", "StopLogging")],
    [row("event_name", "in", "StopLogging", "ConsoleLogin")],
    [row("event_name", "not_in", "StopLogging", "ConsoleLogin")],
    [row("event_name", "contains", "LOGG")],
    [row("event_name", "starts_with", "put", "list")],
    [row("error_code", "is_set")],
    [row("error_code", "is_not_set")],
    [row("ip_address", "is_set")],
    [row("ip_address", "is_not_set")],
    [row("ip_address", "not_equals", "203.0.113.10")],
    [row("ip_address", "in", "203.0.113.10", RISKY_IP)],
    [row("mfa_used", "is_set")],
    [row("mfa_used", "not_equals", False)],
    [row("succeeded", "equals", False)],
    [row("read_only", "not_equals", True)],
    [row("ip_category", "equals", "risky")],
    [row("connector", "equals", "Production")],
    [row("connector", "not_equals", "Production")],
    [row("resource", "equals", "finance-reports")],
    [row("resource", "not_in", "finance-reports")],
    [row("ip_tags", "is_not_set")],
    [row("principal_name", "equals", "dave"), row("console_login", "equals", "Failure")],
]


@pytest.mark.parametrize("filters", FILTER_SETS)
def test_database_conditions_agree_with_the_predicate(stored, filters):
    predicate = compile_filters(filters)
    expected = {a["id"] for a in stored if predicate(a)}
    condition, exact = filters_q(filters)
    selected = set(Activity.objects.filter(condition).values_list("id", flat=True))
    if exact:
        assert selected == expected
    else:
        assert selected >= expected


@pytest.mark.parametrize(
    ("include", "exclude", "names"),
    [
        (["dave"], [], {"dave"}),
        (["arn:aws:iam::123456789012:user/alice"], [], {"alice"}),
        (["arn:aws:iam::123456789012:user/*"], ["DAVE"], {"alice", "bob"}),
        ([], ["alice", "bob"], {"dave"}),
        (["alice"], ["alice"], set()),
    ],
)
def test_scope_conditions(stored, include, exclude, names):
    condition, exact = scope_q(include, exclude)
    assert exact
    found = set(Activity.objects.filter(condition).values_list("principal_name", flat=True))
    assert found == names
