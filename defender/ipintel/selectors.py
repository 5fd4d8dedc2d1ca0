"""Reads of IP ranges and threat feeds (the role check is the views' and the API's)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from django.db.models import Count, Max, Q, QuerySet

from defender.ipintel.classify import FeedSpec, RangeSpec, span
from defender.models import IpRange, ThreatFeed, ThreatFeedEntry

IPRANGE_SORTS = {"name", "-name", "category", "-category", "modified_at", "-modified_at"}
FEED_SORTS = {"name", "-name", "kind", "-kind", "entry_count", "-entry_count", "last_loaded_at"}


def iprange_list(*, search: str = "", category: str = "", order_by: str = "name") -> QuerySet | list[IpRange]:
    """Ranges filtered by category and a search that matches the name, a tag or a network, or, when
    it is an IP address or network, the ranges that contain or overlap it."""
    queryset = IpRange.objects.select_related("modified_by")
    if category in IpRange.Category.values:
        queryset = queryset.filter(category=category)
    queryset = queryset.order_by(order_by if order_by in IPRANGE_SORTS else "name", "pk")
    search = search.strip()
    if not search:
        return queryset
    try:
        wanted = span(ipaddress.ip_network(search, strict=False).compressed)
    except ValueError:
        return queryset.filter(
            Q(name__icontains=search) | Q(tags__icontains=search) | Q(cidrs__icontains=search)
        )
    return [item for item in queryset if _overlaps_any(wanted, item.cidrs)]


def _overlaps_any(wanted: tuple[int, int, int], cidrs: list[str]) -> bool:
    for cidr in cidrs:
        try:
            version, start, end = span(cidr)
        except (OSError, ValueError):
            continue
        if version == wanted[0] and start <= wanted[2] and wanted[1] <= end:
            return True
    return False


def feed_list(*, order_by: str = "name") -> QuerySet:
    return ThreatFeed.objects.select_related("modified_by").order_by(
        order_by if order_by in FEED_SORTS else "name", "pk"
    )


def classifier_signature() -> tuple:
    """Changes whenever anything the classifier compiles changes (two small queries)."""
    ranges = IpRange.objects.aggregate(count=Count("pk"), modified=Max("modified_at"))
    feeds = tuple(
        ThreatFeed.objects.filter(enabled=True)
        .order_by("pk")
        .values_list("pk", "modified_at", "last_loaded_at", "entry_count")
    )
    return ranges["count"], ranges["modified"], feeds


def classifier_specs() -> tuple[list[RangeSpec], list[FeedSpec]]:
    ranges = [
        RangeSpec(
            name=item.name,
            category=item.category,
            cidrs=item.cidrs,
            tags=item.tags,
            country=item.country,
            city=item.city,
            latitude=item.latitude,
            longitude=item.longitude,
            isp=item.isp,
        )
        for item in IpRange.objects.order_by("name")
    ]
    feeds = {feed.pk: feed for feed in ThreatFeed.objects.filter(enabled=True)}
    networks: dict[int, list[str]] = defaultdict(list)
    entries = ThreatFeedEntry.objects.filter(feed_id__in=list(feeds)).values_list("feed_id", "network")
    for feed_id, network in entries.iterator(chunk_size=20_000):
        networks[feed_id].append(network)
    specs = [
        FeedSpec(name=feed.name, kind=feed.kind, tag=feed.tag, networks=networks[pk])
        for pk, feed in sorted(feeds.items())
    ]
    return ranges, specs
