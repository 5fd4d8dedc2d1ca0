"""CEF, JSON lines and syslog framing: escaping of hostile input, severities, truncation."""

import re
from datetime import UTC, datetime

import orjson
from hypothesis import given
from hypothesis import strategies as st

from siem import formats
from siem.formats import Record
from tests.siem.listeners import parse_syslog, split_octet_counted

AT = datetime(2026, 3, 1, 12, 30, 45, 123000, tzinfo=UTC)
HOSTILE = 'a|b\\c=d\ne\r\nf "ünïcødé" 日本 🚨'


def record(**changes) -> Record:
    values = {
        "msgid": "alert",
        "time": AT,
        "signature_id": "aws_console_failed_logins",
        "name": "Sign-in failures",
        "severity": "high",
        "document": {"type": "alert", "id": "alert-1", "title": HOSTILE, "time": AT},
        "extension": {"rt": AT, "suser": "alice", "msg": HOSTILE, "cs1Label": "policy", "cs1": "P"},
    }
    values.update(changes)
    return Record(**values)


def unescape_cef_value(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r"}.get(m.group(1), m.group(1)), text)


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """A CEF line split the way a SIEM parser does: seven unescaped pipes, then key=value pairs whose
    values run to the next unescaped " key=" ."""
    header, field, position = [], "", 0
    while len(header) < 7:
        char = line[position]
        if char == "\\":
            field += line[position + 1]
            position += 2
            continue
        if char == "|":
            header.append(field)
            field = ""
        else:
            field += char
        position += 1
    rest = line[position:]
    extension = {}
    for match in re.finditer(r"(\w+)=((?:\\.|[^\\])*?)(?= \w+=|$)", rest):
        extension[match.group(1)] = unescape_cef_value(match.group(2))
    return [*header, rest], extension


def test_cef_header_and_extension_escaping_round_trips_hostile_text():
    line = formats.cef_line(record(signature_id="sig|with\\pipe", name=HOSTILE))
    assert "\n" not in line and "\r" not in line
    header, extension = parse_cef(line)
    assert header[:7] == [
        "CEF:0",
        "Defender",
        "Defender for AWS",
        "1.0",
        "sig|with\\pipe",
        'a|b\\c=d e f "ünïcødé" 日本 🚨',
        "8",
    ]
    assert extension == {
        "rt": str(int(AT.timestamp() * 1000)),
        "suser": "alice",
        "msg": HOSTILE,
        "cs1Label": "policy",
        "cs1": "P",
    }


def test_cef_escapes_exactly_as_the_specification_says():
    assert formats.escape_cef_header("a|b\\c=d") == "a\\|b\\\\c=d"
    assert formats.escape_cef_value("a|b\\c=d\ne\rf") == "a|b\\\\c\\=d\\ne\\rf"


def test_cef_severity_mapping_and_empty_values_left_out():
    severities = {
        severity: parse_cef(formats.cef_line(record(severity=severity)))[0][6]
        for severity in ("informational", "low", "medium", "high")
    }
    assert severities == {"informational": "1", "low": "3", "medium": "5", "high": "8"}
    line = formats.cef_line(
        record(extension={"suser": "", "src": None, "cs4": [], "cnt": 0, "x": ["a", "b"]})
    )
    assert line.endswith("|8|cnt=0 x=a, b")


@given(st.text(), st.text())
def test_any_text_survives_cef_escaping(name, value):
    header, extension = parse_cef(formats.cef_line(record(name=name, extension={"msg": value})))
    assert header[5] == name.replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    assert extension.get("msg", "") == value


def test_json_line_is_one_line_of_the_document():
    line = formats.json_line(record())
    assert "\n" not in line
    assert orjson.loads(line) == {
        "type": "alert",
        "id": "alert-1",
        "title": HOSTILE,
        "time": "2026-03-01T12:30:45.123000Z",
    }


def test_syslog_message_is_rfc5424_with_priority_from_severity():
    message = formats.syslog_message(record(severity="medium"), "body with spaces", "host name\u00e9")
    assert message.startswith(b"<84>1 2026-03-01T12:30:45.123000Z hostname defender - alert - ")
    parsed = parse_syslog(message)
    assert parsed["priority"] == 10 * 8 + 4  # authpriv.warning
    assert parsed["body"] == "body with spaces"
    assert parse_syslog(formats.syslog_message(record(severity="informational"), "x", ""))["hostname"] == "-"


def test_octet_counting_frames_by_bytes_not_characters():
    frames = [formats.octet_counted("日本\n".encode()), formats.octet_counted(b"a b")]
    assert frames[0] == b"7 \xe6\x97\xa5\xe6\x9c\xac\n"
    assert split_octet_counted(b"".join(frames)) == (["日本\n".encode(), b"a b"], b"")


def test_udp_truncation_keeps_characters_and_escapes_whole():
    assert formats.truncate_datagram(b"short", 10) == b"short"
    # "é" is two bytes: a cut through it drops the whole character.
    assert formats.truncate_datagram("aé".encode(), 2) == b"a"
    assert formats.truncate_datagram("a🚨".encode(), 4) == b"a"
    # A cut right after the backslash of "\=" would leave an escape with nothing to escape.
    assert formats.truncate_datagram(b"ab\\=cd", 3) == b"ab"
    assert formats.truncate_datagram(b"a\\\\=", 3) == b"a\\\\"
    big = formats.syslog_message(record(), formats.cef_line(record(extension={"msg": "é" * 10000})), "h")
    cut = formats.truncate_datagram(big)
    assert len(cut) <= formats.UDP_MAX_BYTES
    cut.decode()
