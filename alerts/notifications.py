"""Notifications of new alerts, per policy: email (Django's email backend, EMAIL_URL) and a webhook
(a JSON POST signed with HMAC-SHA256 in X-Defender-Signature). Only alerts that were created are
notified, so the policy's daily alert limit bounds notifications too."""

from __future__ import annotations

import hashlib
import hmac
import urllib.error
import urllib.request

import orjson
from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from alerts.models import Alert, AlertEvent

WEBHOOK_TIMEOUT_SECONDS = 10


class WebhookFailed(Exception):
    """The receiver did not answer 2xx: the task retries with backoff."""


def alert_url(alert: Alert) -> str:
    return settings.PORTAL_URL.rstrip("/") + reverse("alerts:detail", args=[alert.pk])


def payload(alert: Alert) -> dict:
    return {
        "id": alert.pk,
        "title": alert.title,
        "description": alert.description,
        "severity": alert.severity,
        "status": alert.status,
        "policy": alert.policy.name if alert.policy else None,
        "policy_key": alert.policy.template_key if alert.policy else None,
        "principal": alert.principal,
        "ips": alert.ips,
        "countries": alert.countries,
        "first_activity_at": alert.first_activity_at.isoformat(),
        "last_activity_at": alert.last_activity_at.isoformat(),
        "created_at": alert.created_at.isoformat(),
        "url": alert_url(alert),
    }


def signature(body: bytes) -> str:
    key = (settings.WEBHOOK_SIGNING_KEY or settings.SECRET_KEY).encode()
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def notify_email(alert: Alert) -> int:
    recipients = [r for r in (alert.policy.email_recipients if alert.policy else []) if r]
    if not recipients:
        return 0
    body = (
        f"{alert.description}\n\nSeverity: {alert.severity}\nUser: {alert.principal}\n\n{alert_url(alert)}\n"
    )
    sent = send_mail(f"[{alert.get_severity_display()}] {alert.title}", body, None, recipients)
    AlertEvent.objects.create(
        alert=alert, kind=AlertEvent.Kind.NOTIFIED, message=f"Emailed {', '.join(recipients)}."
    )
    return sent


def notify_webhook(alert: Alert) -> bool:
    url = alert.policy.webhook_url if alert.policy else ""
    if not url:
        return False
    body = orjson.dumps(payload(alert))
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "DefenderForAWS/1.0",
            "X-Defender-Signature": signature(body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        raise WebhookFailed(f"{url} answered {error.code}") from error
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise WebhookFailed(f"{url} could not be reached: {error}") from error
    AlertEvent.objects.create(
        alert=alert, kind=AlertEvent.Kind.NOTIFIED, message=f"Webhook {url} answered {status}."
    )
    return True
