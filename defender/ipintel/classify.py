"""The enrichment ingestion runs on every activity: IP category and tags from the IP address ranges and
threat feeds, location and ISP from the offline GeoIP database (with a range's overrides).

``IpClassifier.load()`` compiles every range and enabled feed entry once per batch (and reuses the
compiled tables while nothing changed); ``classify`` is then a binary search. Networks either nest or
are disjoint, so the address space splits into intervals, each with one precomputed answer: the most
specific range containing it, plus the tags of every feed entry containing it.
"""

from __future__ import annotations

import logging
import socket
import threading
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from defender.ipintel import geo
from defender.ipintel.tags import CATEGORY_RISKY, KIND_TAGS, RISKY_KINDS

logger = logging.getLogger(__name__)

_V4_MAPPED = 0xFFFF


@dataclass(frozen=True, slots=True)
class IpInfo:
    """What the ranges and feeds say about one address. Instances are shared: tags is a tuple."""

    category: str = ""
    tags: tuple[str, ...] = ()
    range_name: str = ""
    feeds: tuple[str, ...] = ()
    country: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    isp: str = ""

    @property
    def has_location_override(self) -> bool:
        return bool(self.country)


UNKNOWN = IpInfo()


@dataclass(frozen=True)
class RangeSpec:
    """An IP range as the classifier needs it (no ORM)."""

    name: str
    category: str
    cidrs: Sequence[str]
    tags: Sequence[str] = ()
    country: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    isp: str = ""


@dataclass(frozen=True)
class FeedSpec:
    """A threat feed and its normalized networks."""

    name: str
    kind: str
    tag: str
    networks: Iterable[str]

    @property
    def tags(self) -> tuple[str, ...]:
        kind_tag = KIND_TAGS.get(self.kind)
        return tuple(dict.fromkeys(t for t in (kind_tag, self.tag) if t))


def span(network: str) -> tuple[int, int, int]:
    """(version, first, last) of a normalized network string such as "10.0.0.0/8" or "2001:db8::/32"."""
    address, _, length = network.partition("/")
    if ":" in address:
        bits, family = 128, socket.AF_INET6
    else:
        bits, family = 32, socket.AF_INET
    start = int.from_bytes(socket.inet_pton(family, address), "big")
    size = 1 << (bits - int(length if length else bits))
    start &= ~(size - 1)
    return (6 if bits == 128 else 4), start, start + size - 1


class IpClassifier:
    """Compiled ranges and feeds: ``classify(ip)`` answers in about a microsecond."""

    def __init__(self, tables: dict[int, tuple[list[int], list[IpInfo]]], ranges: int = 0, entries: int = 0):
        empty = ([0], [UNKNOWN])
        self._v4_starts, self._v4_infos = tables.get(4, empty)
        self._v6_starts, self._v6_infos = tables.get(6, empty)
        self.range_count = ranges
        self.entry_count = entries

    @classmethod
    def empty(cls) -> IpClassifier:
        return cls({})

    @classmethod
    def build(cls, ranges: Iterable[RangeSpec], feeds: Iterable[FeedSpec]) -> IpClassifier:
        ranges, feeds = list(ranges), list(feeds)
        # (start, end, is_range, index of the range or feed) per IP version
        intervals: dict[int, list[tuple[int, int, int, int]]] = {4: [], 6: []}
        for index, item in enumerate(ranges):
            for cidr in item.cidrs:
                try:
                    version, start, end = span(cidr)
                except (OSError, ValueError):
                    logger.warning("IP range %r: ignoring invalid network %r", item.name, cidr)
                    continue
                intervals[version].append((start, end, 1, index))
        entries = 0
        for index, feed in enumerate(feeds):
            for network in feed.networks:
                try:
                    version, start, end = span(network)
                except (OSError, ValueError):
                    logger.warning("Threat feed %r: ignoring invalid network %r", feed.name, network)
                    continue
                intervals[version].append((start, end, 0, index))
                entries += 1
        builder = _InfoBuilder(ranges, feeds)
        tables = {version: _compile(items, builder) for version, items in intervals.items() if items}
        return cls(tables, ranges=len(ranges), entries=entries)

    @classmethod
    def load(cls, *, reuse: bool = True) -> IpClassifier:
        """Every IP range and enabled threat feed from the database, compiled; the compiled tables are
        reused (per process) while nothing in them changed."""
        from defender.ipintel.selectors import classifier_signature, classifier_specs

        global _cached
        signature = classifier_signature()
        with _cache_lock:
            if reuse and _cached is not None and _cached[0] == signature:
                return _cached[1]
        ranges, feeds = classifier_specs()
        classifier = cls.build(ranges, feeds)
        with _cache_lock:
            _cached = (signature, classifier)
        return classifier

    def classify(self, ip: str | None) -> IpInfo:
        """The category, tags, range and overrides of ``ip``; UNKNOWN for anything else, including
        AWS service names ("ec2.amazonaws.com") and empty values."""
        if not ip:
            return UNKNOWN
        try:
            if ":" in ip:
                number = int.from_bytes(socket.inet_pton(socket.AF_INET6, ip), "big")
                if number >> 32 == _V4_MAPPED:  # ::ffff:a.b.c.d is an IPv4 client
                    number &= 0xFFFFFFFF
                else:
                    return self._v6_infos[bisect_right(self._v6_starts, number) - 1]
            else:
                number = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        except (OSError, ValueError, TypeError):
            return UNKNOWN
        return self._v4_infos[bisect_right(self._v4_starts, number) - 1]


_cached: tuple[tuple, IpClassifier] | None = None
_cache_lock = threading.Lock()


class _InfoBuilder:
    """Numbers the distinct states (innermost range, set of feeds) met while sweeping, and makes one
    shared IpInfo per state. A state is derived from its parent's by one step, memoized, so the sweep
    never rescans the stack."""

    ROOT = 0

    def __init__(self, ranges: list[RangeSpec], feeds: list[FeedSpec]):
        self.ranges, self.feeds = ranges, feeds
        self.states: list[tuple[int, frozenset[int]]] = [(-1, frozenset())]
        self.ids: dict[tuple[int, frozenset[int]], int] = {self.states[0]: self.ROOT}
        self.steps: dict[tuple[int, int, int], int] = {}

    def enter(self, state: int, is_range: int, index: int) -> int:
        """The state inside ``state`` once a range (is_range=1) or feed entry (0) of ``index`` opens."""
        step = (state, is_range, index)
        found = self.steps.get(step)
        if found is None:
            range_index, feed_indexes = self.states[state]
            key = (index, feed_indexes) if is_range else (range_index, feed_indexes | {index})
            found = self.ids.get(key)
            if found is None:
                found = self.ids[key] = len(self.states)
                self.states.append(key)
            self.steps[step] = found
        return found

    def infos(self) -> list[IpInfo]:
        return [self._make(*key) for key in self.states]

    def _make(self, range_index: int, feed_indexes: frozenset[int]) -> IpInfo:
        if range_index < 0 and not feed_indexes:
            return UNKNOWN
        feeds = sorted(feed_indexes, key=lambda i: self.feeds[i].name)
        feed_tags = [tag for i in feeds for tag in self.feeds[i].tags]
        feed_names = tuple(self.feeds[i].name for i in feeds)
        if range_index >= 0:
            spec = self.ranges[range_index]
            return IpInfo(
                category=spec.category,
                tags=tuple(dict.fromkeys([*spec.tags, *feed_tags])),
                range_name=spec.name,
                feeds=feed_names,
                country=spec.country,
                city=spec.city if spec.country else "",
                latitude=spec.latitude if spec.country else None,
                longitude=spec.longitude if spec.country else None,
                isp=spec.isp,
            )
        risky = any(self.feeds[i].kind in RISKY_KINDS for i in feeds)
        return IpInfo(
            category=CATEGORY_RISKY if risky else "", tags=tuple(dict.fromkeys(feed_tags)), feeds=feed_names
        )


def _compile(
    intervals: list[tuple[int, int, int, int]], builder: _InfoBuilder
) -> tuple[list[int], list[IpInfo]]:
    """Sweep the nested (start, end, is_range, index) intervals into (interval starts, answers)."""
    # Outer before inner at the same start; at the same network a range sorts after (inside) the
    # feed entries, and later ranges inside earlier ones, so the answer does not depend on input order.
    intervals.sort(key=lambda item: (item[0], -item[1], item[2], item[3]))
    enter = builder.enter
    starts: list[int] = [0]
    states: list[int] = [builder.ROOT]
    stack: list[tuple[int, int]] = []  # (end, state inside it)

    def mark(address: int, state: int) -> None:
        if starts[-1] == address:
            states[-1] = state
            if len(states) > 1 and states[-2] == state:
                starts.pop()
                states.pop()
        elif states[-1] != state:
            starts.append(address)
            states.append(state)

    for start, end, is_range, index in intervals:
        while stack and stack[-1][0] < start:
            closed_end = stack.pop()[0]
            mark(closed_end + 1, stack[-1][1] if stack else builder.ROOT)
        state = enter(stack[-1][1] if stack else builder.ROOT, is_range, index)
        stack.append((end, state))
        mark(start, state)
    while stack:
        closed_end = stack.pop()[0]
        mark(closed_end + 1, stack[-1][1] if stack else builder.ROOT)
    infos = builder.infos()
    return starts, [infos[state] for state in states]


def enrich(activity_fields: dict, classifier: IpClassifier) -> dict:
    """A copy of a normalized activity (keys as on connectors.Activity) with country, city, latitude,
    longitude, asn, isp, ip_category and ip_tags filled from its ``ip_address``. Activities without one
    (calls made by AWS services) come back unchanged."""
    ip = activity_fields.get("ip_address")
    if not ip:
        return dict(activity_fields)
    return {**activity_fields, **enrichment(str(ip), classifier)}


def enrichment(ip: str, classifier: IpClassifier) -> dict:
    """The enrichment fields ``enrich`` adds for ``ip``: the same for every activity from that address,
    so a caller enriching many activities can look each distinct address up once."""
    info = classifier.classify(ip)
    located = geo.lookup(ip)
    fields: dict = {}
    if located is not None:
        fields.update(
            country=located.country,
            city=located.city[:128],
            latitude=located.latitude,
            longitude=located.longitude,
            asn=located.asn,
            isp=located.isp[:256],
        )
    if info.has_location_override:
        fields.update(country=info.country, city=info.city, latitude=info.latitude, longitude=info.longitude)
    if info.isp:
        fields["isp"] = info.isp
    fields["ip_category"] = info.category
    fields["ip_tags"] = list(info.tags)
    return fields
