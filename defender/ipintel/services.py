"""Writes on IP address ranges and threat feeds. Views, forms, the API, tasks and commands call these."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from defender.ipintel.classify import span
from defender.ipintel.networks import (
    MAX_FEED_ENTRIES,
    NetworkError,
    normalize_networks,
    parse_feed,
    parse_network,
)
from defender.ipintel.tags import CATEGORY_CORPORATE, CATEGORY_RISKY, KIND_TAGS
from defender.models import IpRange, ThreatFeed, ThreatFeedEntry

MAX_FEED_BYTES = 20 * 1024 * 1024
FETCH_TIMEOUT_SECONDS = 20
MAX_RANGE_NETWORKS = 10_000
MAX_TAGS = 20
MAX_TAG_LENGTH = 64
MARKED_RANGES = {CATEGORY_CORPORATE: "Marked corporate", CATEGORY_RISKY: "Marked risky"}
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_DELETE_CHUNK = 500
_INSERT_BATCH = 5000


class FeedError(Exception):
    """A feed could not be loaded; the message is shown to the administrator and kept in last_error.
    The feed's previous entries stay in use."""


def split_tags(value: str | Iterable[str] | None) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


@transaction.atomic
def iprange_save(
    *,
    name: str,
    cidrs: str | Iterable[str],
    category: str,
    tags: str | Iterable[str] = (),
    country: str = "",
    city: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    isp: str = "",
    allow_overlap: bool = False,
    by: AbstractBaseUser | None = None,
    iprange: IpRange | None = None,
) -> IpRange:
    """Create (``iprange=None``) or change an IP address range.

    Networks are normalized ("2001:DB8::/32" -> "2001:db8::/32", a bare address -> /32 or /128);
    invalid ones and ones with host bits set are refused with one message each. A network that
    overlaps another range is refused, naming that range, unless ``allow_overlap`` (the most specific
    range then wins for the addresses in both); one already in another range is always refused. Only
    networks added by this save are checked, so overlaps accepted before stay accepted. Raises
    ValidationError keyed by field name.
    """
    errors: dict[str, list[ValidationError]] = {}

    def fail(key: str, message: str, code: str = "invalid") -> None:
        errors.setdefault(key, []).append(ValidationError(message, code=code))

    name = (name or "").strip()
    if not name:
        fail("name", "Enter a name.", "required")
    elif len(name) > 128:
        fail("name", "Use at most 128 characters.")
    elif IpRange.objects.filter(name__iexact=name).exclude(pk=getattr(iprange, "pk", None)).exists():
        fail("name", f"A range named '{name}' already exists.", "unique")
    if category not in IpRange.Category.values:
        fail("category", "Choose a category.", "required")

    networks, network_errors = normalize_networks(cidrs or "")
    for message in network_errors:
        fail("cidrs", message)
    if not networks and not network_errors:
        fail("cidrs", "Enter at least one IP address or network.", "required")
    elif len(networks) > MAX_RANGE_NETWORKS:
        fail("cidrs", f"A range holds at most {MAX_RANGE_NETWORKS:,} networks; split it into several ranges.")
    if not network_errors:
        previous = set(iprange.cidrs) if iprange else set()
        for message, code in _overlaps([n for n in networks if n not in previous], iprange):
            if code == "duplicate" or not allow_overlap:
                fail("cidrs", message, code)

    tag_list = split_tags(tags)
    if len(tag_list) > MAX_TAGS:
        fail("tags", f"Use at most {MAX_TAGS} tags.")
    for tag in tag_list:
        if len(tag) > MAX_TAG_LENGTH:
            fail("tags", f"Tag '{tag[:20]}...' is longer than {MAX_TAG_LENGTH} characters.")

    country = (country or "").strip().upper()
    city = (city or "").strip()
    if country and not _COUNTRY.match(country):
        fail("country", "Enter a two-letter ISO country code, e.g. GB.")
    if (city or latitude is not None or longitude is not None) and not country:
        fail("country", "A location override needs its country.", "required")
    if (latitude is None) != (longitude is None):
        fail(
            "latitude" if latitude is None else "longitude", "Enter both latitude and longitude, or neither."
        )
    if latitude is not None and not -90 <= latitude <= 90:
        fail("latitude", "Latitude is between -90 and 90.")
    if longitude is not None and not -180 <= longitude <= 180:
        fail("longitude", "Longitude is between -180 and 180.")
    if len(city) > 128:
        fail("city", "Use at most 128 characters.")
    isp = (isp or "").strip()
    if len(isp) > 256:
        fail("isp", "Use at most 256 characters.")
    if errors:
        raise ValidationError(errors)

    target = iprange or IpRange(created_by=by)
    target.name, target.cidrs, target.category, target.tags = name, networks, category, tag_list
    target.country, target.city, target.latitude, target.longitude = country, city, latitude, longitude
    target.isp, target.modified_by = isp, by
    try:
        with transaction.atomic():
            target.save()
    except IntegrityError:
        raise ValidationError(
            {"name": [ValidationError(f"A range named '{name}' already exists.")]}
        ) from None
    return target


def _overlaps(added: list[str], iprange: IpRange | None) -> list[tuple[str, str]]:
    """(message, code) for each added network that meets a network of another range."""
    if not added:
        return []
    others = IpRange.objects.exclude(pk=getattr(iprange, "pk", None)).values_list("name", "cidrs")
    existing = []
    for other_name, other_cidrs in others.order_by("name"):
        for cidr in other_cidrs:
            try:
                existing.append((span(cidr), cidr, other_name))
            except (OSError, ValueError):
                continue
    found = []
    for network in added:
        version, start, end = span(network)
        for (other_version, other_start, other_end), cidr, other_name in existing:
            if version != other_version or start > other_end or other_start > end:
                continue
            if cidr == network:
                found.append((f"{network} is already in range '{other_name}'", "duplicate"))
            else:
                found.append((f"{network} overlaps {cidr} of range '{other_name}'", "overlap"))
    return found


@transaction.atomic
def iprange_delete(*, iprange: IpRange, by: AbstractBaseUser | None = None) -> None:
    iprange.delete()


@transaction.atomic
def iprange_mark_ip(*, ip: str, category: str, by: AbstractBaseUser | None = None) -> tuple[IpRange, bool]:
    """Add ``ip`` (as a /32 or /128) to the "Marked corporate" or "Marked risky" range, creating it,
    and take it out of the other one. Returns (range, whether it was added). Marked addresses may sit
    inside other ranges: being the most specific, the mark wins."""
    if category not in MARKED_RANGES:
        raise ValidationError("An IP address can be marked as corporate or risky.")
    try:
        network = parse_network(ip or "")
    except NetworkError:
        raise ValidationError(f"{ip} is not an IP address.") from None
    if network.num_addresses != 1:
        raise ValidationError(f"{ip} is a network: mark single IP addresses, or add a range.")
    cidr = network.compressed
    for other_category, other_name in MARKED_RANGES.items():
        other = IpRange.objects.select_for_update().filter(name=other_name).first()
        if other_category == category or other is None or cidr not in other.cidrs:
            continue
        remaining = [c for c in other.cidrs if c != cidr]
        if remaining:
            other.cidrs, other.modified_by = remaining, by
            other.save(update_fields=["cidrs", "modified_by", "modified_at"])
        else:
            other.delete()
    name = MARKED_RANGES[category]
    marked = IpRange.objects.select_for_update().filter(name=name).first()
    if marked and cidr in marked.cidrs:
        return marked, False
    saved = iprange_save(
        iprange=marked,
        name=name,
        cidrs=[*(marked.cidrs if marked else []), cidr],
        category=marked.category if marked else category,
        tags=marked.tags if marked else [],
        country=marked.country if marked else "",
        city=marked.city if marked else "",
        latitude=marked.latitude if marked else None,
        longitude=marked.longitude if marked else None,
        isp=marked.isp if marked else "",
        allow_overlap=True,
        by=by,
    )
    return saved, True


# Threat feeds


@dataclass
class FeedLoadResult:
    entries: int = 0
    added: int = 0
    removed: int = 0
    bad_count: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str:
        noun = "entry" if self.entries == 1 else "entries"
        text = f"{self.entries:,} {noun} ({self.added:,} added, {self.removed:,} removed)."
        if self.bad_count:
            shown = "; ".join(f"line {number}: {message}" for number, message in self.bad_lines[:3])
            more = f"; and {self.bad_count - 3:,} more" if self.bad_count > 3 else ""
            lines = "line" if self.bad_count == 1 else "lines"
            text += f" {self.bad_count:,} {lines} skipped: {shown}{more}."
        return text


def default_feed_tag(kind: str, name: str = "") -> str:
    return KIND_TAGS.get(kind) or name


@transaction.atomic
def feed_save(
    *,
    name: str,
    kind: str,
    tag: str = "",
    url: str = "",
    enabled: bool = True,
    by: AbstractBaseUser | None = None,
    feed: ThreatFeed | None = None,
) -> ThreatFeed:
    """Create or change a threat feed. The tag defaults to the kind's (e.g. "Tor exit node")."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors.setdefault("name", []).append("Enter a name.")
    elif len(name) > 128:
        errors.setdefault("name", []).append("Use at most 128 characters.")
    elif ThreatFeed.objects.filter(name__iexact=name).exclude(pk=getattr(feed, "pk", None)).exists():
        errors.setdefault("name", []).append(f"A feed named '{name}' already exists.")
    if kind not in ThreatFeed.Kind.values:
        errors.setdefault("kind", []).append("Choose the kind of list.")
    tag = (tag or "").strip() or default_feed_tag(kind, name)
    if len(tag) > MAX_TAG_LENGTH:
        errors.setdefault("tag", []).append(f"Use at most {MAX_TAG_LENGTH} characters.")
    url = (url or "").strip()
    if url and urlsplit(url).scheme.lower() not in ("http", "https"):
        errors.setdefault("url", []).append("Only http:// and https:// addresses can be fetched.")
    if errors:
        raise ValidationError(errors)
    target = feed or ThreatFeed(created_by=by)
    target.name, target.kind, target.tag, target.url, target.enabled = name, kind, tag[:64], url, enabled
    target.modified_by = by
    target.save()
    return target


@transaction.atomic
def feed_delete(*, feed: ThreatFeed, by: AbstractBaseUser | None = None) -> None:
    feed.delete()


def _record_feed_error(feed: ThreatFeed, message: str) -> None:
    ThreatFeed.objects.filter(pk=feed.pk).update(last_error=message, last_attempt_at=timezone.now())
    feed.last_error = message


def feed_load(*, feed: ThreatFeed, data: bytes) -> FeedLoadResult:
    """Replace the feed's entries with the networks listed in ``data``, in one transaction.

    One IP address or network per line; '#' and ';' comments, blank lines and CSV (first column) are
    accepted; bad lines are reported by number and skipped. A list with no usable entry at all is
    refused (FeedError), so that an error page or an empty download never wipes a feed.
    """
    parsed = parse_feed(data)
    result = FeedLoadResult(bad_count=parsed.bad_count, bad_lines=parsed.bad_lines)
    if not parsed.networks:
        if parsed.bad_count:
            number, message = parsed.bad_lines[0]
            problem = f"No IP address or network found (line {number}: {message})."
        else:
            problem = "The list is empty."
        _record_feed_error(feed, f"{problem} The previous entries were kept.")
        raise FeedError(feed.last_error)
    if len(parsed.networks) > MAX_FEED_ENTRIES:
        _record_feed_error(
            feed, f"The list has {len(parsed.networks):,} entries; the limit is {MAX_FEED_ENTRIES:,}."
        )
        raise FeedError(feed.last_error)
    with transaction.atomic():
        locked = ThreatFeed.objects.select_for_update().get(pk=feed.pk)
        existing = set(ThreatFeedEntry.objects.filter(feed=locked).values_list("network", flat=True))
        removed = sorted(existing - parsed.networks)
        added = sorted(parsed.networks - existing)
        for start in range(0, len(removed), _DELETE_CHUNK):
            ThreatFeedEntry.objects.filter(
                feed=locked, network__in=removed[start : start + _DELETE_CHUNK]
            ).delete()
        ThreatFeedEntry.objects.bulk_create(
            [ThreatFeedEntry(feed=locked, network=network) for network in added],
            batch_size=_INSERT_BATCH,
            ignore_conflicts=True,
        )
        result.entries, result.added, result.removed = len(parsed.networks), len(added), len(removed)
        now = timezone.now()
        values = {
            "entry_count": result.entries,
            "last_loaded_at": now,
            "last_attempt_at": now,
            "last_error": "",
            "last_load_summary": result.summary(),
        }
        ThreatFeed.objects.filter(pk=feed.pk).update(**values)
        for key, value in values.items():
            setattr(feed, key, value)
    return result


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirect to a non-HTTP address refused", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch_feed(url: str, *, limit: int = MAX_FEED_BYTES, timeout: float = FETCH_TIMEOUT_SECONDS) -> bytes:
    """The body at ``url`` (http or https only), refused past ``limit`` bytes or ``timeout`` seconds."""
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise FeedError("Only http:// and https:// addresses can be fetched.")
    request = urllib.request.Request(
        url, headers={"User-Agent": "Defender-for-AWS/1 (threat feed refresh)", "Accept": "text/*, */*"}
    )
    too_large = f"The list at {url} is larger than {limit // (1024 * 1024)} MB."
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.build_opener(_HttpOnlyRedirects).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limit:
                raise FeedError(too_large)
            chunks, size = [], 0
            while chunk := response.read(64 * 1024):
                size += len(chunk)
                if size > limit:
                    raise FeedError(too_large)
                if time.monotonic() > deadline:
                    raise TimeoutError
                chunks.append(chunk)
    except urllib.error.HTTPError as error:
        raise FeedError(f"{url} answered HTTP {error.code} {error.reason}.") from None
    except urllib.error.URLError as error:
        raise FeedError(f"{url} could not be reached: {error.reason}.") from None
    except TimeoutError:
        raise FeedError(f"{url} did not send the list within {timeout:g} seconds.") from None
    except (OSError, ValueError) as error:
        raise FeedError(f"{url} could not be read: {error}.") from None
    return b"".join(chunks)


def feed_refresh(*, feed_id: int) -> FeedLoadResult | None:
    """Fetch an enabled URL feed and load it. Failures are kept in ``last_error`` (the previous entries
    stay in use) rather than raised: the next scheduled refresh simply tries again."""
    feed = ThreatFeed.objects.filter(pk=feed_id, enabled=True).exclude(url="").first()
    if feed is None:
        return None
    try:
        return feed_load(feed=feed, data=fetch_feed(feed.url))
    except FeedError as error:
        _record_feed_error(feed, str(error))
        return None


def feed_queue_refresh(*, feed: ThreatFeed) -> None:
    """Refresh now, in a worker, after the current transaction commits."""
    from defender.tasks import refresh_threat_feed_task

    refresh_threat_feed_task.delay_on_commit(feed.pk)
