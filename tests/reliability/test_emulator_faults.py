"""The emulator's injected faults the reliability tests rely on: stalled calls (LookupEvents, or any
request by method and path) and the count of the requests that reached moto."""

from __future__ import annotations

import threading
import time

from connectors import aws as connectors_aws
from tests.aws_fixtures import ROOT_CREDENTIALS

STALL_SECONDS = 1.0


def _client(aws, service: str):
    return connectors_aws.client(service, ROOT_CREDENTIALS, endpoint_url=aws.endpoint_url, max_attempts=1)


def test_a_stalled_lookup_events_call_is_answered_late_and_only_the_next_one(aws):
    cloudtrail = _client(aws, "cloudtrail")
    aws.faults.stall_next(1, STALL_SECONDS)

    started = time.monotonic()
    cloudtrail.lookup_events()
    stalled_for = time.monotonic() - started
    started = time.monotonic()
    cloudtrail.lookup_events()

    assert stalled_for >= STALL_SECONDS
    assert time.monotonic() - started < STALL_SECONDS
    assert aws.faults.stalled == 1


def test_a_stalled_request_holds_only_that_request_and_is_then_done(aws):
    s3 = _client(aws, "s3")
    s3.create_bucket(Bucket="shared")
    aws.requests.clear()
    aws.faults.stall_next(1, STALL_SECONDS, request="PUT /shared?acl")
    # Another request meanwhile is not held.
    assert s3.list_buckets()["Buckets"]

    sender = threading.Thread(target=lambda: s3.put_bucket_acl(Bucket="shared", ACL="public-read"))
    sender.start()
    while aws.faults.stalled == 0:
        time.sleep(0.01)
    assert aws.requests["PUT /shared?acl"] == 1
    sender.join()

    grants = s3.get_bucket_acl(Bucket="shared")["Grants"]
    assert any(grant["Grantee"].get("URI", "").endswith("AllUsers") for grant in grants)
    counts = [aws.requests[request] for request in ("GET /", "PUT /shared?acl", "GET /shared?acl")]
    assert counts == [1, 1, 1]


def test_reset_clears_faults_and_counts(aws):
    aws.faults.stall_next(3, 60)
    aws.faults.fail_next(3)
    _client(aws, "s3").list_buckets()

    aws.reset()

    assert aws.requests["GET /"] == 0
    assert _client(aws, "cloudtrail").lookup_events()["Events"] == []
