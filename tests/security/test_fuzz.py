"""Hostile input: generated data thrown at every parser of outside input. Each must either succeed
or refuse with its own error type and a message that says what is wrong, never crash."""

import csv
import gzip
import io
import json

import pytest
from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.credentials_csv import CredentialsCsvError, parse_access_key_csv
from connectors.directory import parse_directory_csv
from connectors.ingestion.normalize import MalformedRecord, NormalizedActivity, iter_records, normalize
from defender.ipintel.networks import NetworkError, normalize_networks, parse_feed, parse_network
from policies import editor
from policies.engine.fields import FIELDS, as_activity
from policies.engine.filters import OPERATORS, FilterError, compile_filters, normalize_filters
from tests.cloudtrail import fixture, record

FUZZ = settings(max_examples=150, deadline=None)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
FIXTURE_NAMES = [
    "iam_user_api_call",
    "s3_put_bucket_acl",
    "assumed_role_sso",
    "root_console_login_mfa",
    "ec2_run_instances",
    "aws_service_assume_role",
]
TOP_KEYS = sorted({key for name in FIXTURE_NAMES for key in fixture(name)})
NESTED_KEYS = ["userIdentity", "requestParameters", "responseElements", "additionalEventData", "resources"]


def assert_clear(error: Exception) -> None:
    assert str(error).strip(), f"{type(error).__name__} without a message"


# CloudTrail normalization and the file importer's reader


@st.composite
def mutated_records(draw) -> dict:
    """A real record with some of its keys replaced by anything, deleted, or nested values broken."""
    event = record(draw(st.sampled_from(FIXTURE_NAMES)))
    for key in draw(st.lists(st.sampled_from(TOP_KEYS), max_size=4)):
        if draw(st.booleans()):
            event[key] = draw(json_values)
        else:
            event.pop(key, None)
    for key in draw(st.lists(st.sampled_from(NESTED_KEYS), max_size=2)):
        if isinstance(event.get(key), dict):
            event[key] = {
                **event[key],
                **draw(st.dictionaries(st.text(max_size=12), json_values, max_size=3)),
            }
    return event


@FUZZ
@given(mutated_records())
def test_normalize_either_normalizes_or_says_why(event):
    try:
        activity = normalize(event)
    except MalformedRecord as error:
        assert_clear(error)
    else:
        assert isinstance(activity, NormalizedActivity)
        as_activity(activity.as_fields())


@FUZZ
@given(json_values)
def test_normalize_refuses_anything_that_is_not_a_record(value):
    try:
        normalize(value)
    except MalformedRecord as error:
        assert_clear(error)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.lists(mutated_records(), max_size=3).map(lambda rs: json.dumps({"Records": rs}).encode()),
        st.lists(mutated_records(), max_size=3).map(lambda rs: "\n".join(json.dumps(r) for r in rs).encode()),
        st.binary(max_size=200).map(lambda b: gzip.compress(b)[: max(1, len(b))]),
    )
)
def test_log_file_reader_never_raises(data):
    for item in iter_records(data):
        try:
            normalize(item)
        except MalformedRecord as error:
            assert_clear(error)


# Credential and directory CSV uploads


@st.composite
def csv_files(draw) -> bytes:
    header = draw(
        st.sampled_from(
            [
                ["User name", "Password", "Access key ID", "Secret access key", "Console login link"],
                ["Access key ID", "Secret access key"],
                ["email", "display name", "status", "terminated at"],
            ]
        )
    )
    rows = draw(st.lists(st.lists(st.text(max_size=30), min_size=0, max_size=6), max_size=4))
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue().encode(draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16"])), "surrogatepass")


@FUZZ
@given(csv_files() | st.binary(max_size=300))
def test_access_key_csv_parses_or_says_what_was_expected(data):
    try:
        key_id, secret = parse_access_key_csv(data)
    except CredentialsCsvError as error:
        assert_clear(error)
    else:
        assert key_id and secret


@FUZZ
@given(csv_files() | st.binary(max_size=300))
def test_directory_csv_reports_bad_lines(data):
    try:
        _rows, problems = parse_directory_csv(data)
    except ValidationError as error:
        assert error.messages and all(m.strip() for m in error.messages)
    else:
        assert all(p.strip() for p in problems)


# IP ranges and threat feeds


ip_like = st.one_of(
    st.ip_addresses().map(str),
    st.builds(lambda ip, n: f"{ip}/{n}", st.ip_addresses(), st.integers(-5, 140)),
    st.text(alphabet="0123456789abcdef.:/ -x%", max_size=45),
    st.text(max_size=45),
)


@FUZZ
@given(ip_like, st.booleans())
def test_network_parses_or_says_why(text, strict):
    try:
        network = parse_network(text, strict=strict)
    except NetworkError as error:
        assert_clear(error)
    else:
        assert parse_network(str(network)) == network


@FUZZ
@given(st.lists(ip_like, max_size=6).map(", ".join))
def test_ip_range_lists_give_networks_or_one_message_per_bad_item(text):
    networks, errors = normalize_networks(text)
    for network in networks:
        parse_network(network)
    assert all(e.strip() for e in errors)


@FUZZ
@given(st.lists(ip_like, max_size=10).map(lambda lines: "\n".join(lines).encode()) | st.binary(max_size=300))
def test_threat_feed_files_never_raise(data):
    parsed = parse_feed(data)
    assert parsed.bad_count >= len(parsed.bad_lines)


# The policy filter builder


filter_rows = st.lists(
    st.fixed_dictionaries(
        {
            "field": st.sampled_from(sorted(FIELDS)) | st.text(max_size=10),
            "operator": st.sampled_from(sorted(OPERATORS)) | st.text(max_size=10),
        },
        optional={"values": st.lists(json_scalars, max_size=3) | json_values, "value": json_values},
    ),
    max_size=4,
)


@FUZZ
@given(filter_rows | json_values)
def test_filters_normalize_or_name_the_bad_row(filters):
    try:
        normalized = normalize_filters(filters)
    except FilterError as error:
        assert_clear(error)
        return
    # Valid filters compile and run against a real activity without error.
    matches = compile_filters(normalized)
    matches(as_activity(normalize(record("s3_put_bucket_acl")).as_fields()))


@FUZZ
@given(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(FIELDS)) | st.text(max_size=8), st.text(max_size=12), st.text(max_size=60)
        ),
        max_size=4,
    )
)
def test_editor_rows_give_filters_or_messages(rows):
    filter_rows = [editor.FilterRow(field=f, operator=o, values=v) for f, o, v in rows]
    filters, problems = editor.validate_rows(filter_rows)
    if filter_rows and not filters:
        assert problems or any(row.error for row in filter_rows)
    assert all(message.strip() for message in problems)


yaml_documents = st.one_of(
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"name": st.text(min_size=1, max_size=20), "type": st.sampled_from(["activity", "anomaly", "bogus"])},
        optional={"filters": filter_rows, "severity": st.text(max_size=8), "enabled": json_scalars},
    ).map(json.dumps),
)


@pytest.mark.django_db
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(yaml_documents)
def test_policy_import_creates_or_says_why(text):
    try:
        editor.policy_import_yaml(text=text)
    except editor.PolicyFileError as error:
        assert_clear(error)
    except ValidationError as error:
        assert error.messages
