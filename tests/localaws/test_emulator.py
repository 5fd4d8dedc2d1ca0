"""The local AWS emulator: LookupEvents as AWS serves it, throttling, authorization, the command."""

from __future__ import annotations

import json
import math
import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from connectors import aws as connectors_aws
from connectors.aws import AwsCredentials
from localaws.emulator import DEFAULT_ACCOUNT_ID, EventStore, append_events

ROOT = Path(__file__).resolve().parents[2]
# Any key moto does not know maps to its default account, 123456789012.
OWNER = AwsCredentials(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="testing-root")
BASE = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def record(
    event_id: str,
    minute: float,
    *,
    region: str = "us-east-1",
    name: str = "GetObject",
    source: str = "s3.amazonaws.com",
    user: str = "alice",
    access_key: str = "AKIAALICE",
    read_only: bool = True,
    request: dict | None = None,
    identity: dict | None = None,
    account: str = DEFAULT_ACCOUNT_ID,
) -> dict:
    """A CloudTrail record as it appears in a log file."""
    return {
        "eventVersion": "1.09",
        "userIdentity": identity
        or {
            "type": "IAMUser",
            "principalId": f"AIDA{user.upper()}",
            "arn": f"arn:aws:iam::{account}:user/{user}",
            "accountId": account,
            "accessKeyId": access_key,
            "userName": user,
        },
        "eventTime": (BASE + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": request if request is not None else {"bucketName": "reports"},
        "responseElements": None,
        "eventID": event_id,
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": account,
    }


def cloudtrail(
    aws,
    *,
    region: str = "us-east-1",
    credentials: AwsCredentials = OWNER,
    retry_mode: str = "standard",
    max_attempts: int = 0,
):
    """A CloudTrail client on the emulator; by default it never retries (botocore counts retries)."""
    return connectors_aws.client(
        "cloudtrail",
        credentials,
        region=region,
        endpoint_url=aws.endpoint_url,
        retry_mode=retry_mode,
        max_attempts=max_attempts,
    )


def paginate(client, **params) -> tuple[list[str], int]:
    """Every EventId the paginator yields, and how many pages it took."""
    ids, pages = [], 0
    for page in client.get_paginator("lookup_events").paginate(**params):
        pages += 1
        ids.extend(event["EventId"] for event in page["Events"])
    return ids, pages


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture
def emulator(aws):
    """The emulator without its throttle, for tests about what LookupEvents returns."""
    aws.throttle.limit = 10_000
    return aws


# --- What LookupEvents returns ---------------------------------------------------------------------


def test_paginator_returns_every_stored_event_newest_first_across_pages(emulator):
    records = [record(f"evt-{n:02d}", n) for n in range(21)]
    # Two events in the same second: the order between them must still be stable across pages.
    records += [record("evt-tie-a", 7), record("evt-tie-b", 7)]
    random.Random(4).shuffle(records)
    assert emulator.store.add(records) == 23

    ids, pages = paginate(cloudtrail(emulator), PaginationConfig={"PageSize": 5})

    expected = [
        r["eventID"] for r in sorted(records, key=lambda r: (r["eventTime"], r["eventID"]), reverse=True)
    ]
    assert ids == expected
    assert pages == 5


def test_event_has_aws_shape_and_the_full_record(emulator):
    stored = record("evt-1", 3, read_only=False, name="PutBucketAcl", request={"bucketName": "payments"})
    emulator.store.add([stored])

    (event,) = cloudtrail(emulator).lookup_events()["Events"]

    assert event == {
        "EventId": "evt-1",
        "EventName": "PutBucketAcl",
        "ReadOnly": "false",
        "AccessKeyId": "AKIAALICE",
        "EventTime": BASE + timedelta(minutes=3),
        "EventSource": "s3.amazonaws.com",
        "Username": "alice",
        "Resources": [{"ResourceType": "AWS::S3::Bucket", "ResourceName": "payments"}],
        "CloudTrailEvent": event["CloudTrailEvent"],
    }
    assert json.loads(event["CloudTrailEvent"]) == stored


def test_default_page_is_fifty_events(emulator):
    emulator.store.add(record(f"evt-{n:02d}", n) for n in range(60))
    client = cloudtrail(emulator)

    first = client.lookup_events()
    second = client.lookup_events(NextToken=first["NextToken"])

    assert len(first["Events"]) == 50
    assert len(second["Events"]) == 10
    assert "NextToken" not in second
    assert first["Events"][0]["EventId"] == "evt-59"
    assert second["Events"][-1]["EventId"] == "evt-00"


def test_time_window_includes_both_ends(emulator):
    emulator.store.add(record(f"evt-{n}", n) for n in range(10))

    ids, _ = paginate(
        cloudtrail(emulator),
        StartTime=BASE + timedelta(minutes=2),
        EndTime=BASE + timedelta(minutes=5),
        PaginationConfig={"PageSize": 2},
    )

    assert ids == ["evt-5", "evt-4", "evt-3", "evt-2"]


def _filter_records() -> list[dict]:
    return [
        record("r1", 1),
        record(
            "r2",
            2,
            user="bob",
            access_key="AKIABOB",
            name="TerminateInstances",
            source="ec2.amazonaws.com",
            read_only=False,
            request={"instancesSet": {"items": [{"instanceId": "i-0abc"}]}},
        ),
        record(
            "r3",
            3,
            name="StopLogging",
            source="cloudtrail.amazonaws.com",
            read_only=False,
            request={"name": "org-trail"},
            identity={
                "type": "AssumedRole",
                "arn": f"arn:aws:sts::{DEFAULT_ACCOUNT_ID}:assumed-role/Deployer/deploy-bot",
                "accountId": DEFAULT_ACCOUNT_ID,
                "accessKeyId": "ASIAROLE",
            },
        ),
        record("r4", 4, name="PutBucketAcl", read_only=False, request={"bucketName": "payments"}),
        record("r5", 5, user="carol", access_key="AKIACAROL", request={"bucketName": "reports"}),
    ]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("EventId", "r2", ["r2"]),
        ("EventName", "PutBucketAcl", ["r4"]),
        ("ReadOnly", "false", ["r4", "r3", "r2"]),
        ("ReadOnly", "true", ["r5", "r1"]),
        ("Username", "alice", ["r4", "r1"]),
        ("Username", "deploy-bot", ["r3"]),
        ("ResourceType", "AWS::S3::Bucket", ["r5", "r4", "r1"]),
        ("ResourceType", "AWS::CloudTrail::Trail", ["r3"]),
        ("ResourceName", "i-0abc", ["r2"]),
        ("ResourceName", "reports", ["r5", "r1"]),
        ("EventSource", "cloudtrail.amazonaws.com", ["r3"]),
        ("AccessKeyId", "AKIABOB", ["r2"]),
        ("EventName", "ConsoleLogin", []),
    ],
)
def test_each_lookup_attribute_filters(emulator, key, value, expected):
    emulator.store.add(_filter_records())

    ids, _ = paginate(
        cloudtrail(emulator),
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}],
        PaginationConfig={"PageSize": 1},
    )

    assert ids == expected


def test_lookup_attribute_and_time_window_combine(emulator):
    emulator.store.add(_filter_records())

    ids, _ = paginate(
        cloudtrail(emulator),
        LookupAttributes=[{"AttributeKey": "ReadOnly", "AttributeValue": "false"}],
        StartTime=BASE + timedelta(minutes=3),
    )

    assert ids == ["r4", "r3"]


def test_only_one_known_lookup_attribute_is_accepted(emulator):
    client = cloudtrail(emulator)
    two = [
        {"AttributeKey": "Username", "AttributeValue": "alice"},
        {"AttributeKey": "EventName", "AttributeValue": "GetObject"},
    ]
    with pytest.raises(ClientError) as excinfo:
        client.lookup_events(LookupAttributes=two)
    assert error_code(excinfo) == "InvalidLookupAttributesException"

    with pytest.raises(ClientError) as excinfo:
        client.lookup_events(LookupAttributes=[{"AttributeKey": "SourceIp", "AttributeValue": "1.2.3.4"}])
    assert error_code(excinfo) == "InvalidLookupAttributesException"


def test_start_after_end_is_an_invalid_time_range(emulator):
    with pytest.raises(ClientError) as excinfo:
        cloudtrail(emulator).lookup_events(StartTime=BASE, EndTime=BASE - timedelta(seconds=1))
    assert error_code(excinfo) == "InvalidTimeRangeException"


def test_max_results_above_fifty_is_rejected(emulator):
    with pytest.raises(ClientError) as excinfo:
        cloudtrail(emulator).lookup_events(MaxResults=51)
    assert error_code(excinfo) == "InvalidMaxResultsException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_next_token_is_only_good_for_its_own_query(emulator):
    emulator.store.add(record(f"evt-{n}", n) for n in range(5))
    emulator.store.add([record("eu-1", 1, region="eu-west-1")])
    client = cloudtrail(emulator)
    token = client.lookup_events(MaxResults=2)["NextToken"]

    assert [e["EventId"] for e in client.lookup_events(MaxResults=2, NextToken=token)["Events"]] == [
        "evt-2",
        "evt-1",
    ]
    for bad_call in (
        lambda: client.lookup_events(NextToken="not-a-token"),
        lambda: client.lookup_events(NextToken=token[:-2] + ("AA" if not token.endswith("AA") else "BB")),
        lambda: client.lookup_events(
            NextToken=token, LookupAttributes=[{"AttributeKey": "Username", "AttributeValue": "alice"}]
        ),
        lambda: cloudtrail(emulator, region="eu-west-1").lookup_events(NextToken=token),
    ):
        with pytest.raises(ClientError) as excinfo:
            bad_call()
        assert error_code(excinfo) == "InvalidNextTokenException"


def test_regions_and_accounts_are_separate(emulator):
    emulator.store.add(
        [
            record("use1-a", 1),
            record("use1-b", 2),
            record("euw1-a", 3, region="eu-west-1"),
            record("other-account", 4, account="210987654321"),
        ]
    )

    assert paginate(cloudtrail(emulator))[0] == ["use1-b", "use1-a"]
    assert paginate(cloudtrail(emulator, region="eu-west-1"))[0] == ["euw1-a"]
    assert paginate(cloudtrail(emulator, region="ap-south-1"))[0] == []
    assert emulator.store.count(region="us-east-1") == 3
    assert emulator.store.count(account_id=DEFAULT_ACCOUNT_ID, region="us-east-1") == 2


def test_store_sorts_out_of_order_appends_and_skips_known_event_ids():
    store = EventStore()
    assert store.add([record("late", 9), record("early", 1)]) == 2
    assert store.add([record("middle", 5), record("late", 9)]) == 1

    assert [r["eventID"] for r in store.records()] == ["late", "middle", "early"]
    assert store.count() == 3
    store.clear()
    assert store.count() == 0


# --- Appending while the server runs -----------------------------------------------------------------


def test_events_appended_from_another_thread_are_seen_by_the_next_call(emulator):
    client = cloudtrail(emulator)
    emulator.store.add([record("before", 1)])
    assert paginate(client)[0] == ["before"]

    thread = threading.Thread(target=append_events, args=(emulator.endpoint_url, [record("appended", 2)]))
    thread.start()
    thread.join(timeout=30)

    assert paginate(client)[0] == ["appended", "before"]


def test_events_appended_from_another_process_are_seen_by_the_next_call(emulator):
    records = [record(f"proc-{n}", n) for n in range(3)]
    script = (
        "import json, sys\n"
        "from localaws.emulator import append_events\n"
        "print(append_events(sys.argv[1], json.load(sys.stdin)))\n"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script, emulator.endpoint_url],
            input=json.dumps(records),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    assert run() == "3"
    assert paginate(cloudtrail(emulator))[0] == ["proc-2", "proc-1", "proc-0"]
    # Appending is idempotent on eventID, so a client may safely retry.
    assert run() == "0"
    assert emulator.store.count() == 3


# --- Throttling --------------------------------------------------------------------------------------


def test_third_call_within_a_second_is_throttled_as_aws_does(aws):
    # A long window so that even a slow machine makes three calls inside it.
    aws.throttle.window = 60
    client = cloudtrail(aws)
    raw: list[tuple[int, bytes]] = []
    client.meta.events.register(
        "before-parse.cloudtrail.LookupEvents",
        lambda response_dict, **_: raw.append((response_dict["status_code"], response_dict["body"])),
    )

    client.lookup_events()
    client.lookup_events()
    with pytest.raises(ClientError) as excinfo:
        client.lookup_events()

    assert error_code(excinfo) == "ThrottlingException"
    assert excinfo.value.response["Error"]["Message"] == "Rate exceeded"
    status, body = raw[-1]
    assert status == 400
    assert json.loads(body) == {"__type": "ThrottlingException", "message": "Rate exceeded"}
    assert aws.throttle.throttled == 1
    # The limit is per region: another region is not affected.
    cloudtrail(aws, region="eu-west-1").lookup_events()


@pytest.mark.parametrize("retry_mode", ["standard", "adaptive"])
def test_retrying_client_gets_every_page_at_the_limited_rate(aws, retry_mode):
    # Two calls per quarter second keeps the test short while exercising the same sliding window.
    aws.throttle.limit, aws.throttle.window = 2, 0.25
    aws.store.add(record(f"evt-{n}", n) for n in range(6))
    client = cloudtrail(aws, retry_mode=retry_mode, max_attempts=10)

    started = time.monotonic()
    ids, pages = paginate(client, PaginationConfig={"PageSize": 1})
    elapsed = time.monotonic() - started

    assert ids == [f"evt-{n}" for n in range(5, -1, -1)]
    assert pages == 6
    assert aws.throttle.throttled > 0
    # Not a performance assertion: a lower bound the window guarantees. Six accepted calls at two
    # per window span at least two windows.
    assert elapsed >= (math.ceil(pages / 2) - 1) * 0.25


def test_reset_empties_moto_the_events_and_the_throttle(aws):
    s3 = connectors_aws.client("s3", OWNER, endpoint_url=aws.endpoint_url, max_attempts=0)
    s3.create_bucket(Bucket="left-over")
    aws.store.add([record("left-over", 1)])
    aws.throttle.limit, aws.throttle.window = 0, 60
    with pytest.raises(ClientError):
        cloudtrail(aws).lookup_events()

    aws.reset()

    assert s3.list_buckets()["Buckets"] == []
    assert aws.store.count() == 0
    assert aws.throttle.throttled == 0
    assert cloudtrail(aws).lookup_events()["Events"] == []


# --- Authentication and authorization ----------------------------------------------------------------


def _iam_user(aws, name: str, actions: list[str]) -> AwsCredentials:
    iam = connectors_aws.client("iam", OWNER, endpoint_url=aws.endpoint_url, max_attempts=0)
    iam.create_user(UserName=name)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="access", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return AwsCredentials(access_key_id=key["AccessKeyId"], secret_access_key=key["SecretAccessKey"])


@pytest.fixture
def authorized(emulator):
    """Two IAM users made before authentication is switched on, as a scenario makes them."""
    emulator.store.add([record("evt-1", 1)])
    users = {
        "reader": _iam_user(emulator, "trail-reader", ["cloudtrail:LookupEvents"]),
        "no_lookup": _iam_user(emulator, "trail-describer", ["cloudtrail:DescribeTrails"]),
    }
    emulator.enable_auth()
    return users


def _codes(emulator, credentials: AwsCredentials, query_call, json_call) -> tuple[str, str]:
    """The error code of a query-protocol call (STS, IAM) and of a JSON-protocol one (CloudTrail)."""
    codes = []
    for service, call in ((query_call[0], query_call[1]), ("cloudtrail", json_call)):
        client = connectors_aws.client(
            service, credentials, endpoint_url=emulator.endpoint_url, max_attempts=0
        )
        with pytest.raises(ClientError) as excinfo:
            getattr(client, call)()
        codes.append(error_code(excinfo))
    return codes[0], codes[1]


def test_auth_rejects_an_unknown_access_key(emulator, authorized):
    bogus = AwsCredentials("AKIAZZZZZZZZZZZZZZZZ", "not-a-real-secret-key-at-all-00000000000")
    # AWS's own codes differ by protocol: STS says InvalidClientTokenId, CloudTrail (JSON) says
    # UnrecognizedClientException.
    assert _codes(emulator, bogus, ("sts", "get_caller_identity"), "lookup_events") == (
        "InvalidClientTokenId",
        "UnrecognizedClientException",
    )


def test_auth_rejects_a_wrong_secret(emulator, authorized):
    wrong = AwsCredentials(authorized["reader"].access_key_id, "x" * 40)
    assert _codes(emulator, wrong, ("sts", "get_caller_identity"), "lookup_events") == (
        "SignatureDoesNotMatch",
        "InvalidSignatureException",
    )


def test_auth_denies_lookup_events_without_the_permission(emulator, authorized):
    user = authorized["no_lookup"]
    assert _codes(emulator, user, ("iam", "list_users"), "lookup_events") == (
        "AccessDenied",
        "AccessDeniedException",
    )

    client = cloudtrail(emulator, credentials=user)
    client.describe_trails()  # the key is fine and the policy is read: only LookupEvents is missing
    with pytest.raises(ClientError) as excinfo:
        client.lookup_events()
    assert "cloudtrail:LookupEvents" in excinfo.value.response["Error"]["Message"]


def test_auth_allows_lookup_events_with_the_permission(emulator, authorized):
    events = cloudtrail(emulator, credentials=authorized["reader"]).lookup_events()["Events"]
    assert [e["EventId"] for e in events] == ["evt-1"]


def test_role_trusting_the_account_can_be_assumed_by_its_permitted_users(emulator):
    iam = connectors_aws.client("iam", OWNER, endpoint_url=emulator.endpoint_url, max_attempts=0)
    for name, account in (("TrustsOwnAccount", DEFAULT_ACCOUNT_ID), ("TrustsOtherAccount", "210987654321")):
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    portal = _iam_user(emulator, "portal", ["sts:AssumeRole"])
    bystander = _iam_user(emulator, "bystander", ["cloudtrail:LookupEvents"])
    emulator.enable_auth()

    def assume(credentials: AwsCredentials, role: str) -> str:
        sts = connectors_aws.client("sts", credentials, endpoint_url=emulator.endpoint_url, max_attempts=0)
        arn = f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/{role}"
        return sts.assume_role(RoleArn=arn, RoleSessionName="defender")["AssumedRoleUser"]["Arn"]

    assert assume(portal, "TrustsOwnAccount").endswith(":assumed-role/TrustsOwnAccount/defender")
    for credentials, role in ((bystander, "TrustsOwnAccount"), (portal, "TrustsOtherAccount")):
        with pytest.raises(ClientError) as excinfo:
            assume(credentials, role)
        assert error_code(excinfo) == "AccessDenied"


# --- The management command --------------------------------------------------------------------------

# Stands in for localaws.scenario in the command's process (loaded through sitecustomize), so the
# command's --scenario and --auth sequence is tested on its own: the scenario makes an IAM user with
# unauthenticated calls, writes its key into --out and loads an event; only then is auth switched on.
FAKE_SCENARIO = """
import sys, types

def build_scenario(name_or_path, *, seed, end=None):
    from datetime import UTC, datetime
    return {"name": name_or_path, "seed": seed, "end": end or datetime.now(UTC)}

def apply_scenario(scenario, *, endpoint_url, add_events, out_dir):
    import json
    from connectors import aws
    from connectors.aws import AwsCredentials

    owner = AwsCredentials("AKIAIOSFODNN7EXAMPLE", "testing-root")
    iam = aws.client("iam", owner, endpoint_url=endpoint_url, max_attempts=0)
    iam.create_user(UserName="analyst")
    policy = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "cloudtrail:LookupEvents", "Resource": "*"}]}
    iam.put_user_policy(UserName="analyst", PolicyName="lookup", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="analyst")["AccessKey"]
    (out_dir / "analyst_accessKeys.csv").write_text(
        f"Access key ID,Secret access key\\n{key['AccessKeyId']},{key['SecretAccessKey']}\\n")
    add_events([{"eventID": "scenario-1", "eventTime": scenario["end"].strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com", "awsRegion": "us-east-1",
                 "userIdentity": {"type": "IAMUser", "userName": "analyst"}}])
    return types.SimpleNamespace(
        summary=lambda: [f"scenario {scenario['name']} seed {scenario['seed']}: 1 user, 1 event"])

module = types.ModuleType("localaws.scenario")
module.build_scenario, module.apply_scenario = build_scenario, apply_scenario
sys.modules["localaws.scenario"] = module
"""


class RunningCommand:
    """``manage.py aws_emulator`` in a child process, with its output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "aws_emulator", "--port", "0", *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line)

    def wait_for_endpoint(self) -> str:
        while True:
            line = self._lines.get(timeout=60)
            self.output.append(line)
            match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            if match:
                return match.group(1)

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_command_serves_until_sigint(tmp_path):
    command = RunningCommand([], {"VAR_DIR": os.environ.get("VAR_DIR", str(tmp_path))})
    try:
        endpoint = command.wait_for_endpoint()

        sts = connectors_aws.client("sts", OWNER, endpoint_url=endpoint, max_attempts=0)
        assert sts.get_caller_identity()["Account"] == DEFAULT_ACCOUNT_ID
        append_events(endpoint, [record("evt-1", 1)])
        lookup = connectors_aws.client("cloudtrail", OWNER, endpoint_url=endpoint, max_attempts=0)
        assert [e["EventId"] for e in lookup.lookup_events()["Events"]] == ["evt-1"]

        assert command.interrupt() == 0
    finally:
        command.kill()


def test_command_applies_the_scenario_then_enforces_auth(tmp_path):
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "sitecustomize.py").write_text(FAKE_SCENARIO)
    out = tmp_path / "keys"
    env = {"PYTHONPATH": str(tmp_path / "fake"), "VAR_DIR": os.environ.get("VAR_DIR", str(tmp_path))}
    command = RunningCommand(["--scenario", "small-company", "--seed", "7", "--auth", "--out", str(out)], env)
    try:
        endpoint = command.wait_for_endpoint()

        assert any("scenario small-company seed 7: 1 user, 1 event" in line for line in command.output)
        key_id, secret = (out / "analyst_accessKeys.csv").read_text().splitlines()[1].split(",")
        analyst = AwsCredentials(access_key_id=key_id, secret_access_key=secret)
        events = connectors_aws.client(
            "cloudtrail", analyst, endpoint_url=endpoint, max_attempts=0
        ).lookup_events()["Events"]
        assert [e["EventId"] for e in events] == ["scenario-1"]
        sts = connectors_aws.client("sts", OWNER, endpoint_url=endpoint, max_attempts=0)
        with pytest.raises(ClientError) as excinfo:
            sts.get_caller_identity()
        assert error_code(excinfo) == "InvalidClientTokenId"

        assert command.interrupt() == 0
    finally:
        command.kill()
