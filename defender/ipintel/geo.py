"""Offline GeoIP with MaxMind's maintained ``maxminddb`` reader.

The City database is ``GEOIP_DATABASE`` (a Django setting, else the environment variable), by default
the GeoLite2 City file bundled with the ``maxminddb-geolite2`` package. ASN and ISP come from
``GEOIP_ASN_DATABASE`` (a GeoLite2-ASN or GeoIP2-ISP file) when it is set. Each file is opened once
per process (memory-mapped, so forked workers share the pages) and answers are cached.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import maxminddb
from django.conf import settings

logger = logging.getLogger(__name__)

CACHE_SIZE = 100_000


@dataclass(frozen=True)
class GeoResult:
    country: str  # ISO 3166-1 alpha-2, "" when unknown
    city: str
    latitude: float | None
    longitude: float | None
    asn: int | None
    isp: str


def bundled_database() -> str:
    import _maxminddb_geolite2

    return str(Path(_maxminddb_geolite2.__file__).resolve().parent / "GeoLite2-City.mmdb")


def _configured(name: str) -> str:
    return getattr(settings, name)


def database_path() -> str:
    return _configured("GEOIP_DATABASE") or bundled_database()


def asn_database_path() -> str:
    return _configured("GEOIP_ASN_DATABASE")


_readers: dict[str, maxminddb.Reader | None] = {}


def _reader(path: str) -> maxminddb.Reader | None:
    if not path:
        return None
    if path not in _readers:
        try:
            _readers[path] = maxminddb.open_database(path)
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as error:
            # Enrichment must never stop ingestion: say so once per process and carry on without geo.
            logger.error("GeoIP database %s cannot be opened (%s): activities get no location", path, error)
            _readers[path] = None
    return _readers[path]


def _is_public(ip: str) -> bool:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global


@lru_cache(maxsize=CACHE_SIZE)
def lookup(ip: str) -> GeoResult | None:
    """Where ``ip`` is, or None for private and reserved addresses, AWS service names ("ec2.amazonaws.com",
    "AWS Internal") and addresses the database does not know."""
    if not ip or not _is_public(ip):
        return None
    city_reader = _reader(database_path())
    asn_reader = _reader(asn_database_path())
    record = (city_reader.get(ip) if city_reader else None) or {}
    network = (asn_reader.get(ip) if asn_reader else None) or {}
    country = (record.get("country") or record.get("registered_country") or {}).get("iso_code", "")
    city = (record.get("city") or {}).get("names", {}).get("en", "")
    location = record.get("location") or {}
    asn = network.get("autonomous_system_number")
    isp = network.get("isp") or network.get("autonomous_system_organization") or ""
    if not (country or city or asn or isp):
        return None
    return GeoResult(
        country=country,
        city=city,
        latitude=location.get("latitude"),
        longitude=location.get("longitude"),
        asn=asn,
        isp=isp,
    )


def reset() -> None:
    """Forget the open databases and cached answers (after the settings changed: tests, reloads)."""
    for reader in _readers.values():
        if reader is not None:
            reader.close()
    _readers.clear()
    lookup.cache_clear()
