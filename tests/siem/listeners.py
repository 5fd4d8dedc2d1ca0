"""Real local receivers for the SIEM export tests: a syslog server (UDP, TCP, TLS) that parses RFC 5424
messages and RFC 6587 octet-counted frames, a webhook server, and the alerts they are fed with."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from alerts.models import Alert
from alerts.services import alert_raise
from policies.engine import Finding
from policies.models import Policy


def raise_alert(index: int, *, severity: str = "high", title: str = "") -> Alert:
    """An alert raised through the alerts service, as detection raises them."""
    now = dt.datetime.now(dt.UTC)
    policy = Policy.objects.get_or_create(
        name=f"SIEM test policy ({severity})", defaults={"severity": severity, "daily_alert_limit": 100000}
    )[0]
    return alert_raise(
        finding=Finding(
            policy_key="siem_test",
            title=title or f"Alert {index}",
            severity=severity,
            principal=f"arn:aws:iam::123456789012:user/user{index}",
            principal_name=f"user{index}",
            first_seen=now,
            last_seen=now,
            key=f"siem-{index}",
            policy_id=policy.pk,
            ips=("203.0.113.7",),
        )
    )


def parse_syslog(message: bytes) -> dict:
    """An RFC 5424 message (no structured data, as the export writes them) as its parts."""
    text = message.decode()
    header, _, rest = text.partition(" ")
    priority = int(header[1 : header.index(">")])
    timestamp, hostname, app, procid, msgid, structured, body = rest.split(" ", 6)
    return {
        "priority": priority,
        "version": header[header.index(">") + 1 :],
        "timestamp": timestamp,
        "hostname": hostname,
        "app": app,
        "procid": procid,
        "msgid": msgid,
        "structured_data": structured,
        "body": body,
    }


def split_octet_counted(stream: bytes) -> tuple[list[bytes], bytes]:
    """RFC 6587 octet-counting frames, and what is left after the last complete one. Anything that
    is not a frame (a stray newline, a length that is not a number) fails."""
    messages = []
    while stream:
        length, _, rest = stream.partition(b" ")
        size = int(length)
        if len(rest) < size:
            return messages, stream
        messages.append(rest[:size])
        stream = rest[size:]
    return messages, b""


@dataclass
class Certificate:
    cert_pem: str
    key_path: Path
    cert_path: Path


def self_signed_certificate(directory: Path, host: str = "127.0.0.1") -> Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SIEM test listener")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_path, cert_path = directory / "listener.key", directory / "listener.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_path.write_text(cert_pem)
    return Certificate(cert_pem=cert_pem, key_path=key_path, cert_path=cert_path)


@dataclass
class SyslogListener:
    """A syslog server on 127.0.0.1 in a thread. ``messages`` holds every message received, in order.
    ``hold()`` makes a stream listener accept connections without reading them (and, over TLS,
    without completing the handshake) until ``release()``, to catch a sender in the middle."""

    protocol: str  # "udp", "tcp" or "tls"
    certificate: Certificate | None = None
    messages: list[bytes] = field(default_factory=list)
    held: int = 0
    partial_frames: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        kind = socket.SOCK_DGRAM if self.protocol == "udp" else socket.SOCK_STREAM
        self._sock = socket.socket(socket.AF_INET, kind)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        if self.protocol != "udp":
            self._sock.listen(16)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                if self.protocol == "udp":
                    data, _ = self._sock.recvfrom(65535)
                    with self._lock:
                        self.messages.append(data)
                    continue
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        if not self._open.is_set():
            with self._lock:
                self.held += 1
            self._open.wait()
        data = b""
        try:
            if self.protocol == "tls":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(self.certificate.cert_path, self.certificate.key_path)
                conn = context.wrap_socket(conn, server_side=True)
            while chunk := conn.recv(65536):
                data += chunk
        except (OSError, ssl.SSLError):
            pass  # the sender went away mid-connection: only its complete frames count
        finally:
            conn.close()
        frames, rest = split_octet_counted(data)
        with self._lock:
            self.messages.extend(frames)
            self.partial_frames += bool(rest)

    def hold(self) -> None:
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def received(self) -> list[dict]:
        with self._lock:
            return [parse_syslog(message) for message in self.messages]

    def documents(self) -> list[dict]:
        return [orjson.loads(message["body"]) for message in self.received()]

    def wait_for(self, count: int, timeout: float = 20) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.received()
            time.sleep(0.05)
        raise AssertionError(f"{len(self.messages)} of {count} syslog messages arrived in {timeout} s")

    def close(self) -> None:
        self._open.set()
        # Closing alone leaves a socket that a thread is blocked on open (and a TCP port listening).
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        self._thread.join(5)


@dataclass
class WebhookServer:
    """An HTTP server on 127.0.0.1 that records every POST; ``status`` is what it answers."""

    status: int = 200
    requests: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                server.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                self.send_response(server.status)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/ingest"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
