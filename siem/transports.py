"""Delivery of rendered lines to a destination: syslog over UDP, TCP or TLS, or a webhook.

A call sends one batch and returns only when the transport accepted all of it; anything else raises
``DeliveryFailed`` (the cursor then stays where it was and the batch is sent again at the next run).
- UDP: one RFC 5424 message per datagram, truncated at ``formats.UDP_MAX_BYTES``. UDP cannot report
  loss; a refused port (ICMP) is reported when the operating system passes it back.
- TCP / TLS: one connection per batch, RFC 6587 octet-counted frames, closed after the last byte
  was handed to the kernel. TLS verifies the server's certificate and host name against the system
  CAs, or only against the destination's CA certificate when one is given; verification can be
  turned off for test set-ups.
- Webhook: one POST per batch, the lines separated by "\\n" (``application/x-ndjson`` for JSON lines,
  ``text/plain`` for CEF); with a secret, ``X-Defender-Signature: sha256=<HMAC-SHA256 of the body>``.
  Any 2xx answer is success.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from functools import cache

from siem import formats
from siem.formats import Record
from siem.models import SiemDestination

TIMEOUT_SECONDS = 10


class DeliveryFailed(Exception):
    """The destination did not take the batch; the message says why, for the settings page."""


@cache
def _hostname() -> str:
    return socket.gethostname()


def deliver(destination: SiemDestination, records: Sequence[Record]) -> None:
    """Send ``records`` to ``destination`` in its format, all or nothing as far as the transport tells."""
    lines = [formats.render(record, destination.format) for record in records]
    if destination.transport == SiemDestination.Transport.WEBHOOK:
        _post(destination, lines)
        return
    messages = [
        formats.syslog_message(record, line, _hostname()) for record, line in zip(records, lines, strict=True)
    ]
    if destination.transport == SiemDestination.Transport.SYSLOG_UDP:
        _send_udp(destination, messages)
    else:
        _send_stream(destination, messages)


def _send_udp(destination: SiemDestination, messages: list[bytes]) -> None:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            destination.host, destination.port, type=socket.SOCK_DGRAM
        )[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(TIMEOUT_SECONDS)
            sock.connect(address)
            for message in messages:
                sock.send(formats.truncate_datagram(message))
    except OSError as error:
        raise DeliveryFailed(f"udp://{destination.target}: {_reason(error)}") from error


def tls_context(destination: SiemDestination) -> ssl.SSLContext:
    if not destination.tls_verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if destination.tls_ca_pem.strip():
        return ssl.create_default_context(cadata=destination.tls_ca_pem)
    return ssl.create_default_context()


def _send_stream(destination: SiemDestination, messages: list[bytes]) -> None:
    scheme = "tls" if destination.transport == SiemDestination.Transport.SYSLOG_TLS else "tcp"
    payload = b"".join(formats.octet_counted(message) for message in messages)
    try:
        with socket.create_connection((destination.host, destination.port), timeout=TIMEOUT_SECONDS) as raw:
            if scheme == "tls":
                with tls_context(destination).wrap_socket(raw, server_hostname=destination.host) as sock:
                    sock.sendall(payload)
            else:
                raw.sendall(payload)
                raw.shutdown(socket.SHUT_WR)
    except (OSError, ssl.SSLError) as error:
        raise DeliveryFailed(f"{scheme}://{destination.target}: {_reason(error)}") from error


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _post(destination: SiemDestination, lines: list[str]) -> None:
    body = ("\n".join(lines) + "\n").encode()
    content_type = "application/x-ndjson" if destination.format == "jsonl" else "text/plain; charset=utf-8"
    headers = {"Content-Type": content_type, "User-Agent": "DefenderForAWS/1.0"}
    secret = destination.webhook_secret
    if secret:
        headers["X-Defender-Signature"] = signature(secret, body)
    request = urllib.request.Request(destination.webhook_url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS):
            pass
    except urllib.error.HTTPError as error:
        raise DeliveryFailed(f"{destination.webhook_url} answered {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DeliveryFailed(f"{destination.webhook_url} could not be reached: {_reason(error)}") from error


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    if isinstance(error, urllib.error.URLError) and reason is not None:
        return str(reason)
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {error.verify_message}"
    return (
        error.strerror
        if isinstance(error, OSError) and error.strerror
        else str(error) or type(error).__name__
    )
