"""Email and signed webhook notifications of new alerts, against a real local HTTP server."""

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.conf import settings

from alerts import notifications
from alerts.models import Alert, AlertEvent
from policies.models import Policy

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on loopback that records requests and answers `status`."""

    def __init__(self, status: int = 200):
        self.status, self.requests = status, []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    made = []

    def make(status: int = 200) -> Receiver:
        made.append(Receiver(status))
        return made[-1]

    yield make
    for item in made:
        item.close()


def make_alert(**policy_fields) -> Alert:
    policy = Policy.objects.create(name="Notify me", severity="high", **policy_fields)
    now = datetime.now(UTC)
    return Alert.objects.create(
        title="Something bad",
        description="It happened.",
        severity="high",
        policy=policy,
        principal="arn:aws:iam::1:user/x",
        first_activity_at=now,
        last_activity_at=now,
        dedup_key="n1",
    )


def test_email_goes_to_the_policy_recipients(mailoutbox):
    alert = make_alert(email_recipients=["soc@example.com"])
    assert notifications.notify_email(alert) == 1
    assert mailoutbox[0].to == ["soc@example.com"]
    assert mailoutbox[0].subject == "[High] Something bad"
    assert f"/alerts/{alert.pk}/" in mailoutbox[0].body
    assert AlertEvent.objects.filter(alert=alert, kind="notified").exists()


def test_webhook_is_signed_and_carries_the_alert(receiver):
    hook = receiver()
    alert = make_alert(webhook_url=hook.url)
    assert notifications.notify_webhook(alert)
    headers, body = hook.requests[0]
    expected = hmac.new(settings.SECRET_KEY.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Defender-Signature"] == f"sha256={expected}"
    assert json.loads(body)["title"] == "Something bad"


def test_a_failing_webhook_raises_for_the_retry(receiver):
    hook = receiver(status=500)
    alert = make_alert(webhook_url=hook.url)
    with pytest.raises(notifications.WebhookFailed, match="answered 500"):
        notifications.notify_webhook(alert)
    assert not AlertEvent.objects.filter(alert=alert, kind="notified").exists()


def test_new_alerts_queue_their_notifications(django_capture_on_commit_callbacks):
    from policies.engine import Finding

    policy = Policy.objects.create(
        name="Queue",
        severity="low",
        email_recipients=["a@example.com"],
        webhook_url="http://127.0.0.1:9/hook",
    )
    now = datetime.now(UTC)
    finding = Finding(
        policy_key="x",
        policy_id=policy.pk,
        title="t",
        severity="low",
        principal="p",
        first_seen=now,
        last_seen=now,
        key="k",
    )
    from alerts.services import alert_raise

    with django_capture_on_commit_callbacks() as callbacks:
        alert_raise(finding=finding)
    assert len(callbacks) == 2
