"""Detection engine throughput on one core: the ten AWS activity templates (single activity) over
synthetic activities shaped like the recorded CloudTrail fixtures, in batches as the worker runs
them, plus one repeated-activity policy with in-memory history. Prints figures; asserts nothing.

BENCH_DETECT_EVENTS sets the size (default 200,000). No database is touched.
"""

import copy
import dataclasses
import os
import random
import time
from datetime import UTC, datetime, timedelta

import orjson
from _common import ROOT, report

from connectors.ingestion.normalize import normalize
from defender.ipintel.classify import IpClassifier, enrich
from policies.engine import MemoryHistory, compile_policy, evaluate_batch
from policies.engine.spec import TYPE_ACTIVITY
from policies.templates.registry import all_templates, get_template

EVENTS = int(os.environ.get("BENCH_DETECT_EVENTS", "200000"))
BATCH = 1000  # connectors.ingestion.store.DETECTION_CHUNK
FIXTURES = ROOT / "tests" / "fixtures" / "cloudtrail"

# (fixture, event source, event name, read-only, weight): mostly reads, as in real trails.
SHAPES = [
    ("iam_user_api_call", "ec2.amazonaws.com", "DescribeInstances", True, 30),
    ("iam_user_api_call", "s3.amazonaws.com", "ListBuckets", True, 15),
    ("iam_user_api_call", "iam.amazonaws.com", "GetUser", True, 10),
    ("assumed_role_sso", "sts.amazonaws.com", "AssumeRole", True, 10),
    ("s3_put_object_data_event", "s3.amazonaws.com", "PutObject", False, 10),
    ("kms_rotate_key_service_event", "kms.amazonaws.com", "RotateKey", False, 3),
    ("iam_user_api_call", "organizations.amazonaws.com", "CreatePolicy", False, 1),
    ("iam_user_api_call", "iam.amazonaws.com", "AttachUserPolicy", False, 2),
    ("iam_user_api_call", "iam.amazonaws.com", "CreateUser", False, 2),
    ("ec2_run_instances", "ec2.amazonaws.com", "RunInstances", False, 2),
    ("ec2_terminate_instances", "ec2.amazonaws.com", "TerminateInstances", False, 2),
    ("iam_user_api_call", "ec2.amazonaws.com", "AuthorizeSecurityGroupIngress", False, 1),
    ("iam_user_api_call", "ec2.amazonaws.com", "CreateVpc", False, 1),
    ("iam_user_api_call", "cloudtrail.amazonaws.com", "StopLogging", False, 1),
    ("s3_put_bucket_acl", "s3.amazonaws.com", "PutBucketAcl", False, 2),
    ("iam_user_console_login_failure", "signin.amazonaws.com", "ConsoleLogin", False, 3),
    ("root_console_login_mfa", "signin.amazonaws.com", "ConsoleLogin", False, 2),
]
IPS = ["203.0.113.10", "198.51.100.8", "192.0.2.44", "81.2.69.142", "2001:db8::1"]
RISKY = "198.51.100.201"


def build(count: int) -> list[dict]:
    rng = random.Random(7)
    fixtures = {name: orjson.loads((FIXTURES / f"{name}.json").read_bytes()) for name, *_ in SHAPES}
    classifier = IpClassifier.build([], [])
    prototypes = []
    for name, source, event, read_only, weight in SHAPES:
        record = copy.deepcopy(fixtures[name])
        record.update(eventSource=source, eventName=event, readOnly=read_only)
        for ip in [*IPS, RISKY]:
            record["sourceIPAddress"] = ip
            fields = enrich(normalize(record).as_fields(), classifier)
            fields.pop("raw")
            fields.pop("request_parameters")
            if ip == RISKY:
                fields["ip_category"] = "risky"
            prototypes.append((fields, weight * (1 if ip == RISKY else 20)))
    population, weights = zip(*prototypes, strict=True)
    start = datetime(2026, 11, 28, tzinfo=UTC)
    activities = []
    for index, prototype in enumerate(rng.choices(population, weights, k=count)):
        activity = dict(prototype)
        activity["id"] = index + 1
        activity["event_id"] = f"evt-{index:08d}"
        activity["event_time"] = start + timedelta(milliseconds=250 * index)
        activity["principal"] = f"arn:aws:iam::123456789012:user/user{rng.randrange(200)}"
        activities.append(activity)
    return activities


def run(policies, activities, history=None) -> tuple[float, int]:
    found = 0
    started = time.perf_counter()
    for offset in range(0, len(activities), BATCH):
        found += len(evaluate_batch(policies, activities[offset : offset + BATCH], history=history))
    return time.perf_counter() - started, found


def main() -> None:
    activities = build(EVENTS)
    templates = [compile_policy(t.spec()) for t in all_templates(TYPE_ACTIVITY)]
    run(templates, activities[:BATCH])  # warm up
    seconds, found = run(templates, activities)

    repeated = compile_policy(
        dataclasses.replace(
            get_template("aws_console_failed_logins").spec(),
            key="bench_repeated_failed_logins",
            match_mode="repeated",
            repeat_count=5,
            repeat_minutes=10,
            repeat_group_by="principal",
        )
    )
    history = MemoryHistory(activities)
    repeated_seconds, repeated_found = run([*templates, repeated], activities, history)
    report(
        "detect",
        {
            "activities": len(activities),
            "policies": len(templates),
            "findings": found,
            "seconds": round(seconds, 3),
            "activities_per_second": round(len(activities) / seconds),
            "with_repeated_policy_findings": repeated_found,
            "with_repeated_policy_activities_per_second": round(len(activities) / repeated_seconds),
        },
    )


if __name__ == "__main__":
    main()
