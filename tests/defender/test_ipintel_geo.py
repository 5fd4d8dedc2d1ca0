"""Offline GeoIP against the GeoLite2 City database bundled with maxminddb-geolite2."""

import logging

import pytest

from defender.ipintel import geo


@pytest.fixture(autouse=True)
def fresh_geo():
    geo.reset()
    yield
    geo.reset()


def test_known_public_addresses():
    london = geo.lookup("81.2.69.160")
    assert london.country == "GB"
    assert london.latitude == pytest.approx(51.53, abs=0.5)
    rome = geo.lookup("5.2.0.1")
    assert (rome.country, rome.city) == ("IT", "Rome")
    assert rome.longitude == pytest.approx(12.5, abs=0.5)
    assert geo.lookup("2001:4860:4860::8888").country == "US"


def test_ipv4_mapped_ipv6_is_looked_up_as_ipv4():
    assert geo.lookup("::ffff:81.2.69.160").country == "GB"


@pytest.mark.parametrize(
    "value", ["ec2.amazonaws.com", "AWS Internal", "", "10.0.0.1", "192.168.1.20", "127.0.0.1", "fd00::1"]
)
def test_service_names_private_and_reserved_addresses_have_no_location(value):
    assert geo.lookup(value) is None


def test_without_an_asn_database_asn_and_isp_are_empty():
    result = geo.lookup("5.2.0.1")
    assert result.asn is None
    assert result.isp == ""


def test_answers_are_cached():
    geo.lookup("5.2.0.1")
    geo.lookup("5.2.0.1")
    assert geo.lookup.cache_info().hits >= 1


def test_configured_database_path_is_used_and_a_missing_file_only_logs(settings, caplog):
    settings.GEOIP_DATABASE = "/nonexistent/GeoLite2-City.mmdb"
    geo.reset()
    with caplog.at_level(logging.ERROR, logger="defender.ipintel.geo"):
        assert geo.lookup("5.2.0.1") is None
        assert geo.lookup("81.2.69.160") is None
    assert sum("cannot be opened" in r.message for r in caplog.records) == 1
