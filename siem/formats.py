"""Wire formats of the SIEM export. Pure: records in, bytes out; no ORM, no network.

- **JSON lines**: one orjson document per record (``record.document``), no newline inside.
- **CEF** (ArcSight Common Event Format, revision 25):
  ``CEF:0|Defender|Defender for AWS|1.0|<signatureId>|<name>|<severity>|<extension>``. In the header,
  backslashes and pipes are escaped (``\\\\``, ``\\|``) and line breaks become spaces (the header has no
  escape for them). In the extension, backslashes, equal signs and line breaks are escaped (``\\\\``,
  ``\\=``, ``\\n``, ``\\r``); pipes are legal there. Keys are fixed CEF dictionary names or
  ``csNLabel``/``csN`` pairs; ``rt``, ``start`` and ``end`` are milliseconds since the epoch. Severity is
  CEF's 0-10 scale (``CEF_SEVERITY``).
- **Syslog** (RFC 5424): ``<PRI>1 TIMESTAMP HOSTNAME defender - MSGID - MSG`` with facility 10
  (security/authorization), the MSG (the JSON document or the CEF line) in UTF-8 without a BOM (most
  SIEM parsers take a BOM for part of the message). Over TCP and TLS each message is framed by octet
  counting, ``<length> <message>`` (RFC 6587 3.4.1), so a record may hold any character. Over UDP each
  datagram holds one message (RFC 5426), cut at ``UDP_MAX_BYTES`` on a character boundary and never
  inside a CEF escape sequence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

CEF_VENDOR = "Defender"
CEF_PRODUCT = "Defender for AWS"
CEF_VERSION = "1.0"

# Portal severities on CEF's 0-10 scale (0-3 low, 4-6 medium, 7-8 high, 9-10 very high).
CEF_SEVERITY = {"informational": 1, "low": 3, "medium": 5, "high": 8}
# ... and as syslog severities: informational 6, notice 5, warning 4, error 3.
SYSLOG_SEVERITY = {"informational": 6, "low": 5, "medium": 4, "high": 3}
SYSLOG_FACILITY = 10  # security/authorization messages (authpriv)
APP_NAME = "defender"
# RFC 5426 receivers must accept 480 bytes and should accept 2048; every current SIEM takes 8 KB,
# which stays under a jumbo-free path's fragmentation limits while holding a whole alert.
UDP_MAX_BYTES = 8192


@dataclass(frozen=True)
class Record:
    """One exported event: the same facts for both formats.

    ``signature_id`` and ``name`` fill the CEF header, ``extension`` its key=value pairs (in order),
    ``document`` the JSON line, ``msgid`` the syslog MSGID (``alert``, ``alert_update``, ``activity``).
    """

    msgid: str
    time: datetime
    signature_id: str
    name: str
    severity: str
    document: dict[str, Any]
    extension: dict[str, Any] = field(default_factory=dict)


def escape_cef_header(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("|", "\\|")
    return text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")


def escape_cef_value(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def cef_line(record: Record) -> str:
    pairs = []
    for key, value in record.extension.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, datetime):
            value = epoch_millis(value)
        elif isinstance(value, list | tuple):
            value = ", ".join(str(item) for item in value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        pairs.append(f"{key}={escape_cef_value(value)}")
    header = "|".join(
        escape_cef_header(part)
        for part in (
            CEF_VENDOR,
            CEF_PRODUCT,
            CEF_VERSION,
            record.signature_id,
            record.name,
            CEF_SEVERITY.get(record.severity, 1),
        )
    )
    return f"CEF:0|{header}|{' '.join(pairs)}"


def json_line(record: Record) -> str:
    # orjson escapes control characters inside strings, so the document is always one line.
    return orjson.dumps(record.document, option=orjson.OPT_UTC_Z).decode()


def render(record: Record, fmt: str) -> str:
    """The record as one line of ``fmt`` ("jsonl" or "cef")."""
    return cef_line(record) if fmt == "cef" else json_line(record)


def syslog_message(record: Record, body: str, hostname: str) -> bytes:
    """One RFC 5424 message (without transport framing)."""
    priority = SYSLOG_FACILITY * 8 + SYSLOG_SEVERITY.get(record.severity, 6)
    timestamp = record.time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    host = _header_token(hostname, 255)
    return f"<{priority}>1 {timestamp} {host} {APP_NAME} - {record.msgid} - {body}".encode()


def _header_token(value: str, limit: int) -> str:
    """RFC 5424 header fields are printable US-ASCII without spaces; "-" when nothing is left."""
    token = "".join(ch for ch in value if 33 <= ord(ch) <= 126)[:limit]
    return token or "-"


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 octet-counting frame for stream transports (TCP, TLS)."""
    return str(len(message)).encode() + b" " + message


def truncate_datagram(message: bytes, limit: int = UDP_MAX_BYTES) -> bytes:
    """``message`` cut to ``limit`` bytes without splitting a UTF-8 character or leaving half of a
    backslash escape at the end (which would escape nothing and confuse CEF parsers)."""
    if len(message) <= limit:
        return message
    # The message is valid UTF-8: decoding with "ignore" drops only a character the cut split.
    cut = message[:limit].decode(errors="ignore").encode()
    trailing = len(cut) - len(cut.rstrip(b"\\"))
    if trailing % 2:
        cut = cut[:-1]
    return cut
