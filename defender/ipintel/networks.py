"""Parsing and normalizing IP networks: CIDR lists typed by people, and feed files. Pure functions."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_FEED_ENTRIES = 1_000_000
REPORTED_BAD_LINES = 50
_SEPARATORS = re.compile(r"[\s,;]+")
_FEED_FIELD_END = re.compile(r"[\s,;|]")


class NetworkError(ValueError):
    """A network that cannot be used, with a message meant for the person who typed it."""


def parse_network(text: str, *, strict: bool = True) -> Network:
    """``text`` as a network; a bare address is a /32 or /128.

    Strict (IP ranges, typed by people): host bits must be clear. "10.0.0.5/24" is refused with the
    network it probably meant, rather than silently widened or narrowed: a range is a trust decision
    and a typo in it should not be guessed. Feeds are parsed leniently (strict=False).
    """
    text = text.strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise NetworkError(f"{text} is not a valid IPv4 or IPv6 network") from None
    if strict:
        try:
            ipaddress.ip_network(text)
        except ValueError:  # it parsed leniently, so only host bits can be wrong
            raise NetworkError(f"{text} has host bits set: did you mean {network.compressed}?") from None
    return network


def split_networks(value: str | Iterable[str]) -> list[str]:
    """The items of a CIDR list: text one per line (commas or spaces also separate; '#' starts a
    comment), or an iterable of strings. Blank items are dropped."""
    if isinstance(value, str):
        items: list[str] = []
        for line in value.splitlines():
            items.extend(_SEPARATORS.split(line.split("#", 1)[0]))
    else:
        items = [str(item) for item in value]
    return [item.strip() for item in items if item and item.strip()]


def bounds(network: Network) -> tuple[int, int, int]:
    """(IP version, first address, last address) as integers."""
    start = int(network.network_address)
    return network.version, start, start + network.num_addresses - 1


def normalize_networks(value: str | Iterable[str]) -> tuple[list[str], list[str]]:
    """Normalize a list of networks typed by a person: (normalized networks in the order given, one
    error message per unusable item). Duplicates are dropped; a network inside another one of the
    same list is an error, since it would change nothing."""
    networks: list[Network] = []
    errors: list[str] = []
    seen: set[str] = set()
    for item in split_networks(value):
        try:
            network = parse_network(item)
        except NetworkError as error:
            errors.append(str(error))
            continue
        if network.compressed not in seen:
            seen.add(network.compressed)
            networks.append(network)
    # Networks nest or are disjoint: after sorting by (version, start, widest first), a network is
    # inside another exactly when it ends before the widest network open at its start does.
    enclosing: tuple[int, int, Network] | None = None
    for network in sorted(networks, key=lambda n: (bounds(n)[0], bounds(n)[1], -bounds(n)[2])):
        version, _start, end = bounds(network)
        if enclosing and enclosing[0] == version and end <= enclosing[1]:
            errors.append(
                f"{network.compressed} is inside {enclosing[2].compressed}, which this range already has"
            )
        else:
            enclosing = (version, end, network)
    return [n.compressed for n in networks], errors


@dataclass
class FeedParse:
    networks: set[str] = field(default_factory=set)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    bad_count: int = 0
    header_skipped: bool = False


def parse_feed(data: bytes) -> FeedParse:
    """One IP address or network per line, as threat feeds publish them.

    Accepted: '#' and ';' comments (whole-line or trailing), blank lines, text after the address
    (``1.10.16.0/20 ; SBL256894``), CSV or TSV with the address in the first column (a header row is
    skipped). Host bits are cleared. Bad lines are reported by number; they never fail the parse.
    """
    result = FeedParse()
    text = data.decode("utf-8-sig", errors="replace")
    seen_data = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith(";"):
            continue
        token = _FEED_FIELD_END.split(line, 1)[0].strip().strip("\"'")
        try:
            network = ipaddress.ip_network(token, strict=False)
        except ValueError:
            if not seen_data and not result.header_skipped and not any(c.isdigit() for c in token):
                result.header_skipped = True  # a CSV header such as "ip_address,first_seen"
                continue
            result.bad_count += 1
            if len(result.bad_lines) < REPORTED_BAD_LINES:
                shown = token if len(token) <= 60 else token[:57] + "..."
                result.bad_lines.append((number, f'"{shown}" is not an IP address or network'))
            continue
        seen_data = True
        result.networks.add(network.compressed)
    return result
