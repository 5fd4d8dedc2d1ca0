"""The export against real local receivers: syslog over UDP, TCP and TLS, and webhooks (one failing);
the cursor across failures, filters, claims, and rows committed out of id order."""

import hashlib
import hmac
import threading
from datetime import timedelta

import orjson
import pytest
from celery import current_app
from django.db import connection, transaction
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import Alert, AlertEvent
from connectors.models import Activity, Connector
from siem import services
from siem.models import SiemCursor, SiemDestination
from siem.services import DestinationSettings
from siem.tasks import export_all_task
from siem.transports import DeliveryFailed
from tests.policies.activities import call, store
from tests.siem.listeners import (
    SyslogListener,
    WebhookServer,
    raise_alert,
    self_signed_certificate,
)
from tests.siem.test_formats import parse_cef

pytestmark = pytest.mark.django_db


@pytest.fixture
def tcp_listener():
    listener = SyslogListener("tcp")
    yield listener
    listener.close()


@pytest.fixture
def webhook():
    server = WebhookServer()
    yield server
    server.close()


def syslog_destination(listener: SyslogListener, **changes) -> SiemDestination:
    config = {
        "name": f"SIEM {listener.protocol}",
        "transport": f"syslog_{listener.protocol}",
        "host": "127.0.0.1",
        "port": listener.port,
        **changes,
    }
    return services.destination_save(config=DestinationSettings(**config), by=None)


def cursor(destination: SiemDestination, stream: str = "alerts") -> int:
    return SiemCursor.objects.get(destination=destination, stream=stream).position


def test_tcp_listener_receives_each_new_alert_once_in_order(tcp_listener):
    raise_alert(0)  # before the destination existed: not sent
    destination = syslog_destination(tcp_listener)
    alerts = [raise_alert(i) for i in range(1, 4)]

    result = services.destination_export(destination_id=destination.pk)

    assert result.sent == 3 and not result.error
    messages = tcp_listener.wait_for(3)
    assert [m["msgid"] for m in messages] == ["alert"] * 3
    assert {m["app"] for m in messages} == {"defender"}
    assert {m["priority"] for m in messages} == {10 * 8 + 3}  # authpriv.err for high alerts
    documents = tcp_listener.documents()
    assert [d["id"] for d in documents] == [f"alert-{a.pk}" for a in alerts]
    assert documents[0]["title"] == "Alert 1"
    assert documents[0]["severity"] == "high"
    assert documents[0]["url"].endswith(f"/alerts/{alerts[0].pk}/")
    assert tcp_listener.partial_frames == 0

    assert services.destination_export(destination_id=destination.pk).sent == 0
    destination.refresh_from_db()
    assert cursor(destination) == alerts[-1].pk
    assert destination.records_sent == 3
    assert destination.last_sent_at is not None
    assert len(tcp_listener.messages) == 3


def test_udp_listener_receives_cef_one_message_per_datagram():
    listener = SyslogListener("udp")
    try:
        destination = syslog_destination(listener, format="cef")
        hostile = raise_alert(1, title="Pipes | and = and \\ and\nnewlines, ünïcødé 日本")
        huge = raise_alert(2, title="Huge")
        Alert.objects.filter(pk=huge.pk).update(description="é" * 20000)

        assert services.destination_export(destination_id=destination.pk).sent == 2
        messages = listener.wait_for(2)
    finally:
        listener.close()
    header, extension = parse_cef(messages[0]["body"])
    assert header[:7] == [
        "CEF:0",
        "Defender",
        "Defender for AWS",
        "1.0",
        f"custom_policy_{hostile.policy_id}",
        "Pipes | and = and \\ and newlines, ünïcødé 日本",
        "8",
    ]
    assert extension["externalId"] == f"alert-{hostile.pk}"
    assert extension["suser"] == "user1"
    assert extension["src"] == "203.0.113.7"
    assert extension["cs1Label"] == "policy"
    assert extension["cs1"] == "SIEM test policy (high)"
    assert len(listener.messages[1]) <= 8192
    assert parse_cef(messages[1]["body"])[0][5] == "Huge"


def test_tls_listener_with_a_self_signed_certificate(tmp_path):
    certificate = self_signed_certificate(tmp_path)
    listener = SyslogListener("tls", certificate=certificate)
    try:
        destination = syslog_destination(listener)
        start = cursor(destination)
        alert = raise_alert(1)

        # Verified against the system CAs, the self-signed certificate is refused: nothing moves.
        result = services.destination_export(destination_id=destination.pk)
        assert "certificate verification failed" in result.error
        destination.refresh_from_db()
        assert destination.consecutive_failures == 1
        assert "certificate verification failed" in destination.last_error
        assert cursor(destination) == start

        services.destination_save(
            config=DestinationSettings(
                name=destination.name,
                transport="syslog_tls",
                host="127.0.0.1",
                port=listener.port,
                tls_ca_pem=certificate.cert_pem,
            ),
            by=None,
            destination=destination,
        )
        assert services.destination_export(destination_id=destination.pk).sent == 1
        assert [d["id"] for d in _wait_documents(listener, 1)] == [f"alert-{alert.pk}"]
        destination.refresh_from_db()
        assert destination.consecutive_failures == 0
    finally:
        listener.close()


def _wait_documents(listener: SyslogListener, count: int) -> list[dict]:
    listener.wait_for(count)
    return listener.documents()


def test_failing_webhook_keeps_the_batch_for_the_next_run(webhook):
    destination = services.destination_save(
        config=DestinationSettings(
            name="Webhook", transport="webhook", webhook_url=webhook.url, webhook_secret="s3cret"
        ),
        by=None,
    )
    assert "s3cret" not in destination.webhook_secret_encrypted
    start = cursor(destination)
    alerts = [raise_alert(i) for i in range(3)]
    webhook.status = 503

    result = services.destination_export(destination_id=destination.pk)

    assert result.sent == 0
    assert "answered 503" in result.error
    destination.refresh_from_db()
    assert cursor(destination) == start
    assert destination.consecutive_failures == 1
    assert destination.records_sent == 0
    assert len(webhook.requests) == 1

    webhook.status = 204
    assert services.destination_export(destination_id=destination.pk).sent == 3
    request = webhook.requests[-1]
    assert request["headers"]["Content-Type"] == "application/x-ndjson"
    expected = "sha256=" + hmac.new(b"s3cret", request["body"], hashlib.sha256).hexdigest()
    assert request["headers"]["X-Defender-Signature"] == expected
    lines = request["body"].decode().splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == [f"alert-{a.pk}" for a in alerts]
    destination.refresh_from_db()
    assert destination.consecutive_failures == 0
    assert "503" in destination.last_error  # the last error stays visible with its time
    assert cursor(destination) == alerts[-1].pk


def test_batches_are_sent_in_order(webhook, settings):
    settings.SIEM_BATCH_SIZE = 2
    destination = services.destination_save(
        config=DestinationSettings(name="Webhook", transport="webhook", webhook_url=webhook.url), by=None
    )
    alerts = [raise_alert(i) for i in range(5)]
    assert services.destination_export(destination_id=destination.pk).sent == 5
    batches = [[orjson.loads(line)["id"] for line in r["body"].splitlines()] for r in webhook.requests]
    assert batches == [[f"alert-{a.pk}" for a in alerts[i : i + 2]] for i in (0, 2, 4)]


def test_minimum_severity_and_alert_updates(webhook, operator):
    destination = services.destination_save(
        config=DestinationSettings(
            name="Webhook", transport="webhook", webhook_url=webhook.url, format="cef", min_severity="medium"
        ),
        by=None,
    )
    low = raise_alert(1, severity="low")
    high = raise_alert(2, severity="high")
    alert_services.alert_assign(alert=high, assignee=operator, by=operator)
    alert_services.alert_resolve(
        alert=high, by=operator, classification="true_positive", comment="Contained | done"
    )
    alert_services.alert_assign(alert=low, assignee=operator, by=operator)

    assert services.destination_export(destination_id=destination.pk).sent == 3
    lines = [line for r in webhook.requests for line in r["body"].decode().splitlines()]
    parsed = [parse_cef(line) for line in lines]
    assert [(h[4], e["externalId"].rsplit("-", 1)[0]) for h, e in parsed] == [
        (f"custom_policy_{high.policy_id}", "alert"),
        ("alert_assigned", "alert-update"),
        ("alert_resolved", "alert-update"),
    ]
    resolved_header, resolved = parsed[2]
    assert resolved_header[5] == "Resolved: Alert 2"
    assert resolved["cs4"] == "true_positive"
    assert resolved["duser"] == operator.get_username()
    assert resolved["msg"] == "Contained | done"
    assert cursor(destination) == high.pk
    # The low alert's assignment was passed over, not left behind.
    assert cursor(destination, "alert_updates") == AlertEvent.objects.latest("pk").pk


def test_activities_stream(webhook):
    connector = Connector.objects.create(name="Production", account_id="123456789012")
    destination = services.destination_save(
        config=DestinationSettings(
            name="Webhook",
            transport="webhook",
            webhook_url=webhook.url,
            export_alerts=False,
            export_alert_updates=False,
            export_activities=True,
        ),
        by=None,
    )
    ids = store(
        connector,
        [
            call("StopLogging", "cloudtrail.amazonaws.com"),
            call("ListTrails", "cloudtrail.amazonaws.com", read_only=True),
        ],
    )
    assert services.destination_export(destination_id=destination.pk).sent == 2
    documents = [orjson.loads(line) for line in webhook.requests[0]["body"].splitlines()]
    activities = Activity.objects.in_bulk(ids)
    assert [d["event_id"] for d in documents] == [activities[i].event_id for i in sorted(ids)]
    assert documents[0]["event_name"] == "StopLogging"
    assert documents[0]["aws_account"] == "123456789012"
    assert set(SiemCursor.objects.filter(destination=destination).values_list("stream", flat=True)) == {
        "activities"
    }


def test_a_claimed_destination_is_left_to_its_claimant(tcp_listener):
    destination = syslog_destination(tcp_listener)
    raise_alert(1)
    # Another worker is exporting this destination: its lease is still running.
    SiemDestination.objects.filter(pk=destination.pk).update(
        claim_token="other", claimed_until=timezone.now() + timedelta(seconds=60)
    )
    result = services.destination_export(destination_id=destination.pk)
    assert not result.claimed and result.sent == 0
    # Its worker died: once the lease has run out, the next run takes over.
    SiemDestination.objects.filter(pk=destination.pk).update(
        claimed_until=timezone.now() - timedelta(seconds=1)
    )
    assert services.destination_export(destination_id=destination.pk).sent == 1
    assert SiemDestination.objects.get(pk=destination.pk).claimed_until is None


def test_disabled_destination_sends_nothing_until_enabled(tcp_listener, admin):
    destination = syslog_destination(tcp_listener)
    services.destination_set_enabled(destination=destination, enabled=False, by=admin)
    alert = raise_alert(1)
    assert not services.destination_export(destination_id=destination.pk).claimed
    services.destination_set_enabled(destination=destination, enabled=True, by=admin)
    assert services.destination_export(destination_id=destination.pk).sent == 1
    assert [d["id"] for d in _wait_documents(tcp_listener, 1)] == [f"alert-{alert.pk}"]


def test_beat_task_fans_out_to_enabled_destinations(tcp_listener, admin):
    destination = syslog_destination(tcp_listener)
    paused = syslog_destination(tcp_listener, name="Paused")
    services.destination_set_enabled(destination=paused, enabled=False, by=admin)
    raise_alert(1)
    current_app.conf.task_always_eager = True
    try:
        export_all_task.delay()
    finally:
        current_app.conf.task_always_eager = False
    assert len(tcp_listener.wait_for(1)) == 1
    assert SiemDestination.objects.get(pk=destination.pk).records_sent == 1
    assert SiemDestination.objects.get(pk=paused.pk).records_sent == 0


def test_send_test_message(tcp_listener, admin):
    destination = syslog_destination(tcp_listener, format="cef")
    services.destination_send_test(destination=destination, by=admin)
    message = tcp_listener.wait_for(1)[0]
    header, extension = parse_cef(message["body"])
    assert header[4:6] == ["test", "Defender for AWS test message"]
    assert extension["cs1"] == destination.name
    assert SiemDestination.objects.get(pk=destination.pk).records_sent == 0

    tcp_listener.close()
    with pytest.raises(DeliveryFailed, match=r"tcp://127\.0\.0\.1"):
        services.destination_send_test(destination=destination, by=admin)


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite has one writer at a time")
def test_rows_committed_out_of_id_order_are_exported_once_each(webhook):
    destination = services.destination_save(
        config=DestinationSettings(name="Webhook", transport="webhook", webhook_url=webhook.url), by=None
    )
    inserted, commit = threading.Event(), threading.Event()
    slow: list[Alert] = []

    def slow_writer():
        try:
            with transaction.atomic():
                slow.append(raise_alert(1, severity="low"))  # takes the smaller id...
                inserted.set()
                commit.wait(30)
        finally:
            connection.close()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert inserted.wait(30)
        fast = raise_alert(2, severity="high")  # ...and commits after this one
        # The export cannot tell yet whether a smaller id is still on its way: it sends nothing.
        assert services.destination_export(destination_id=destination.pk).sent == 0
        assert webhook.requests == []
    finally:
        commit.set()
        writer.join()
    assert slow[0].pk < fast.pk
    assert services.destination_export(destination_id=destination.pk).sent == 2
    assert services.destination_export(destination_id=destination.pk).sent == 0
    sent = [orjson.loads(line)["id"] for r in webhook.requests for line in r["body"].splitlines()]
    assert sent == [f"alert-{slow[0].pk}", f"alert-{fast.pk}"]


def test_a_stream_switched_on_again_starts_from_then(tcp_listener):
    destination = syslog_destination(tcp_listener)
    config = {
        "name": destination.name,
        "transport": "syslog_tcp",
        "host": "127.0.0.1",
        "port": tcp_listener.port,
    }
    services.destination_save(
        config=DestinationSettings(**config, export_alerts=False), by=None, destination=destination
    )
    raise_alert(1)  # raised while new alerts were switched off: never sent
    services.destination_save(config=DestinationSettings(**config), by=None, destination=destination)
    later = raise_alert(2)
    assert services.destination_export(destination_id=destination.pk).sent == 1
    assert [d["id"] for d in _wait_documents(tcp_listener, 1)] == [f"alert-{later.pk}"]
