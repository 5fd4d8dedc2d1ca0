"""The classifier ingestion uses on every activity: precedence, feed tags, IPv6, enrichment, speed."""

import ipaddress
import random
import time

import pytest

from defender.ipintel import geo, services
from defender.ipintel.classify import UNKNOWN, FeedSpec, IpClassifier, RangeSpec, enrich
from defender.ipintel.tags import ANONYMIZER_TAGS, SUSPICIOUS_TAGS
from defender.models import ThreatFeed

OFFICE = RangeSpec(name="Office", category="corporate", cidrs=["203.0.113.0/24"], tags=["HQ"])
LAB = RangeSpec(name="Lab", category="administrative", cidrs=["203.0.113.128/25"], tags=["Lab"])
HOST = RangeSpec(name="Build host", category="other", cidrs=["203.0.113.200/32"])
V6 = RangeSpec(name="VPN v6", category="vpn", cidrs=["2001:db8::/32"], tags=["VPN"])
V6_INNER = RangeSpec(name="Risky v6", category="risky", cidrs=["2001:db8:dead::/48"])
TOR = FeedSpec(name="Tor", kind="tor_exit_nodes", tag="Tor exit node", networks=["198.51.100.7/32"])
BOTS = FeedSpec(
    name="Bots", kind="botnet", tag="Spamhaus DROP", networks=["198.51.100.0/24", "203.0.113.130/32"]
)


@pytest.fixture
def classifier():
    return IpClassifier.build([OFFICE, LAB, HOST, V6, V6_INNER], [TOR, BOTS])


def test_the_most_specific_range_wins(classifier):
    assert classifier.classify("203.0.113.5").range_name == "Office"
    assert classifier.classify("203.0.113.5").tags == ("HQ",)
    assert classifier.classify("203.0.113.129").range_name == "Lab"
    assert classifier.classify("203.0.113.200").range_name == "Build host"
    assert classifier.classify("203.0.113.201").range_name == "Lab"
    assert classifier.classify("203.0.113.255").category == "administrative"
    assert classifier.classify("203.0.114.0") is UNKNOWN


def test_input_order_does_not_change_the_answer():
    shuffled = IpClassifier.build([HOST, V6_INNER, LAB, V6, OFFICE], [BOTS, TOR])
    assert shuffled.classify("203.0.113.200").range_name == "Build host"
    assert shuffled.classify("2001:db8:dead::1").range_name == "Risky v6"


def test_feed_tags_are_added_and_risky_kinds_make_the_ip_risky(classifier):
    tor = classifier.classify("198.51.100.7")
    assert tor.category == "risky"  # also in the botnet /24
    assert set(tor.tags) == {"Botnet", "Spamhaus DROP", "Tor exit node"}
    assert tor.feeds == ("Bots", "Tor")
    bot = classifier.classify("198.51.100.9")
    assert bot.category == "risky"
    assert bot.tags == ("Botnet", "Spamhaus DROP")


def test_anonymizer_feeds_tag_without_making_the_ip_risky():
    only_tor = IpClassifier.build([], [TOR])
    info = only_tor.classify("198.51.100.7")
    assert info.category == ""
    assert info.tags == ("Tor exit node",)
    assert set(info.tags) <= ANONYMIZER_TAGS
    assert "Botnet" in SUSPICIOUS_TAGS


def test_a_range_overrides_the_category_a_feed_implies(classifier):
    info = classifier.classify("203.0.113.130")  # in Lab and in the botnet feed
    assert info.category == "administrative"
    assert info.range_name == "Lab"
    assert info.tags == ("Lab", "Botnet", "Spamhaus DROP")


def test_ipv6_and_ipv4_mapped_addresses(classifier):
    assert classifier.classify("2001:db8::1").category == "vpn"
    assert classifier.classify("2001:DB8:DEAD::1").category == "risky"
    assert classifier.classify("2001:db9::1") is UNKNOWN
    assert classifier.classify("::ffff:203.0.113.5").range_name == "Office"


@pytest.mark.parametrize("value", ["ec2.amazonaws.com", "AWS Internal", "", None, "203.0.113", "1.2.3.4.5"])
def test_anything_but_an_ip_is_unknown(classifier, value):
    assert classifier.classify(value) is UNKNOWN


def test_empty_classifier():
    assert IpClassifier.empty().classify("203.0.113.5") is UNKNOWN
    assert IpClassifier.build([], []).classify("2001:db8::1") is UNKNOWN


def _naive(ranges, feeds, ip):
    address = ipaddress.ip_address(ip)
    best = None
    for spec in ranges:
        for cidr in spec.cidrs:
            network = ipaddress.ip_network(cidr)
            if address in network and (best is None or network.prefixlen > best[0]):
                best = (network.prefixlen, spec.name)
    tags = set()
    for feed in feeds:
        if any(address in ipaddress.ip_network(n) for n in feed.networks):
            tags.update(feed.tags)
    return (best[1] if best else ""), tags


def test_matches_a_naive_classifier_on_random_nested_networks():
    rng = random.Random(7)

    def random_network(prefix_min, prefix_max):
        prefix = rng.randint(prefix_min, prefix_max)
        address = ipaddress.IPv4Address(rng.choice([0x0A000000, 0xC6336400]) + rng.getrandbits(16))
        return ipaddress.ip_network(f"{address}/{prefix}", strict=False).compressed

    ranges = [RangeSpec(name=f"r{i}", category="other", cidrs=[random_network(8, 32)]) for i in range(40)]
    seen, unique_ranges = set(), []
    for spec in ranges:  # the service refuses identical networks in two ranges
        if spec.cidrs[0] not in seen:
            seen.add(spec.cidrs[0])
            unique_ranges.append(spec)
    feeds = [
        FeedSpec(
            name=f"f{i}", kind="other", tag=f"t{i}", networks=[random_network(12, 32) for _ in range(30)]
        )
        for i in range(4)
    ]
    classifier = IpClassifier.build(unique_ranges, feeds)
    for _ in range(3000):
        ip = str(ipaddress.IPv4Address(rng.choice([0x0A000000, 0xC6336400]) + rng.getrandbits(17)))
        info = classifier.classify(ip)
        range_name, tags = _naive(unique_ranges, feeds, ip)
        assert info.range_name == range_name, ip
        assert set(info.tags) == tags, ip


def test_throughput_with_100k_feed_entries():
    """Prints figures; never asserts wall-clock time (bench/ holds the benchmarks)."""
    rng = random.Random(1)
    entries = [str(ipaddress.IPv4Address(rng.getrandbits(32))) + "/32" for _ in range(100_000)]
    ranges = [RangeSpec(name=f"r{i}", category="corporate", cidrs=[f"{i}.0.0.0/8"]) for i in range(1, 60)]
    started = time.perf_counter()
    classifier = IpClassifier.build(ranges, [FeedSpec(name="big", kind="botnet", tag="", networks=entries)])
    built = time.perf_counter() - started
    ips = [str(ipaddress.IPv4Address(rng.getrandbits(32))) for _ in range(200_000)]
    classify = classifier.classify
    started = time.perf_counter()
    for ip in ips:
        classify(ip)
    elapsed = time.perf_counter() - started
    print(f"\nclassifier: built 100k entries in {built:.2f}s; {len(ips) / elapsed:,.0f} IPs/s")
    assert classifier.entry_count == 100_000


def test_enrich_fills_location_category_and_tags():
    classifier = IpClassifier.build(
        [RangeSpec(name="Rome office", category="corporate", cidrs=["5.2.0.0/24"], tags=["Italy"])], [TOR]
    )
    fields = enrich({"event_id": "e1", "ip_address": "5.2.0.1", "source_ip": "5.2.0.1"}, classifier)
    assert fields["event_id"] == "e1"
    assert (fields["country"], fields["city"]) == ("IT", "Rome")
    assert fields["latitude"] is not None
    assert fields["asn"] is None
    assert fields["ip_category"] == "corporate"
    assert fields["ip_tags"] == ["Italy"]


def test_enrich_applies_a_range_location_and_isp_override():
    override = RangeSpec(
        name="VPN egress",
        category="vpn",
        cidrs=["5.2.0.0/24"],
        country="GB",
        city="London",
        latitude=51.5,
        longitude=-0.12,
        isp="Example VPN",
    )
    fields = enrich({"ip_address": "5.2.0.1"}, IpClassifier.build([override], []))
    assert (fields["country"], fields["city"], fields["latitude"]) == ("GB", "London", 51.5)
    assert fields["isp"] == "Example VPN"


def test_enrich_leaves_service_calls_and_private_addresses_alone():
    classifier = IpClassifier.build([], [TOR])
    service_call = {"event_id": "e2", "ip_address": None, "source_ip": "ec2.amazonaws.com"}
    assert enrich(service_call, classifier) == service_call
    private = enrich({"ip_address": "10.0.0.1"}, classifier)
    assert "country" not in private
    assert private["ip_category"] == ""
    assert private["ip_tags"] == []
    assert enrich({"ip_address": "198.51.100.7"}, classifier)["ip_tags"] == ["Tor exit node"]


def test_enrich_does_not_change_its_input():
    original = {"ip_address": "5.2.0.1"}
    enrich(original, IpClassifier.empty())
    assert original == {"ip_address": "5.2.0.1"}


@pytest.mark.django_db
def test_load_reads_ranges_and_enabled_feeds_and_notices_changes(admin):
    geo.reset()
    services.iprange_save(name="Office", cidrs="203.0.113.0/24", category="corporate", by=admin)
    feed = services.feed_save(name="Tor", kind=ThreatFeed.Kind.TOR_EXIT_NODES)
    services.feed_load(feed=feed, data=b"198.51.100.7\n")
    first = IpClassifier.load()
    assert first.classify("203.0.113.9").range_name == "Office"
    assert first.classify("198.51.100.7").tags == ("Tor exit node",)
    assert IpClassifier.load() is first  # nothing changed: the compiled tables are reused

    services.iprange_save(name="Lab", cidrs="203.0.113.128/25", category="administrative", allow_overlap=True)
    second = IpClassifier.load()
    assert second is not first
    assert second.classify("203.0.113.129").range_name == "Lab"

    services.feed_save(feed=feed, name="Tor", kind=feed.kind, enabled=False)
    assert IpClassifier.load().classify("198.51.100.7") is UNKNOWN


@pytest.mark.django_db
def test_load_query_count(django_assert_max_num_queries):
    IpClassifier.load()
    with django_assert_max_num_queries(2):
        IpClassifier.load()
