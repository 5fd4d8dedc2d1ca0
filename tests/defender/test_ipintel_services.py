"""IP range and threat feed services: validation messages, overlaps, marks, feed loading and refresh."""

import http.server
import json
import threading

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from defender.ipintel import services
from defender.ipintel.services import FeedError
from defender.models import IpRange, ThreatFeed, ThreatFeedEntry
from defender.tasks import refresh_threat_feeds_task

pytestmark = pytest.mark.django_db


def save(name="Office", cidrs="203.0.113.0/24", category="corporate", **kwargs) -> IpRange:
    return services.iprange_save(name=name, cidrs=cidrs, category=category, **kwargs)


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        call()
    return caught.value.message_dict


def test_networks_are_normalized(admin):
    saved = save(cidrs="203.0.113.0/24\n\n198.51.100.7\n2001:DB8::/32 # lab\n203.0.113.0/24", by=admin)
    assert saved.cidrs == ["203.0.113.0/24", "198.51.100.7/32", "2001:db8::/32"]
    assert saved.created_by == admin
    assert saved.modified_by == admin


def test_invalid_networks_get_one_clear_message_each():
    errors = errors_of(
        lambda: save(cidrs="10.0.0.300/24\n10.0.0.5/24\nnot-an-ip\n2001:db8::1/32\n10.0.0.0/33")
    )
    assert errors["cidrs"] == [
        "10.0.0.300/24 is not a valid IPv4 or IPv6 network",
        "10.0.0.5/24 has host bits set: did you mean 10.0.0.0/24?",
        "not-an-ip is not a valid IPv4 or IPv6 network",
        "2001:db8::1/32 has host bits set: did you mean 2001:db8::/32?",
        "10.0.0.0/33 is not a valid IPv4 or IPv6 network",
    ]
    assert not IpRange.objects.exists()


def test_required_fields_and_a_network_nested_in_the_same_range():
    errors = errors_of(lambda: save(name=" ", cidrs="", category="castle"))
    assert errors == {
        "name": ["Enter a name."],
        "category": ["Choose a category."],
        "cidrs": ["Enter at least one IP address or network."],
    }
    errors = errors_of(lambda: save(cidrs="10.0.0.0/8\n10.1.0.0/16"))
    assert errors["cidrs"] == ["10.1.0.0/16 is inside 10.0.0.0/8, which this range already has"]


def test_overlap_names_the_other_range_and_can_be_accepted():
    save(name="VPN", cidrs="10.1.2.0/24", category="vpn")
    errors = errors_of(lambda: save(name="Campus", cidrs="10.1.0.0/16"))
    assert errors["cidrs"] == ["10.1.0.0/16 overlaps 10.1.2.0/24 of range 'VPN'"]
    campus = save(name="Campus", cidrs="10.1.0.0/16", allow_overlap=True)
    assert campus.pk
    # Saving again without the flag keeps the accepted overlap: only added networks are checked.
    save(iprange=campus, name="Campus", cidrs="10.1.0.0/16\n192.0.2.0/24")
    save(name="Lab", cidrs="172.16.5.0/24", category="administrative")
    errors = errors_of(lambda: save(iprange=campus, name="Campus", cidrs="10.1.0.0/16\n172.16.0.0/12"))
    assert errors["cidrs"] == ["172.16.0.0/12 overlaps 172.16.5.0/24 of range 'Lab'"]


def test_the_same_network_in_two_ranges_is_always_refused():
    save(name="VPN", cidrs="2001:db8::/48", category="vpn")
    errors = errors_of(lambda: save(name="Other", cidrs="2001:DB8::/48", allow_overlap=True))
    assert errors["cidrs"] == ["2001:db8::/48 is already in range 'VPN'"]


def test_unique_name_tags_and_location_override():
    save(name="Office")
    assert errors_of(lambda: save(name="office", cidrs="192.0.2.0/24"))["name"] == [
        "A range named 'office' already exists."
    ]
    errors = errors_of(
        lambda: save(name="B", cidrs="192.0.2.0/24", country="United Kingdom", latitude=91.0, longitude=None)
    )
    assert errors["country"] == ["Enter a two-letter ISO country code, e.g. GB."]
    assert "Enter both latitude and longitude, or neither." in errors["longitude"]
    assert errors["latitude"] == ["Latitude is between -90 and 90."]
    assert errors_of(lambda: save(name="B", cidrs="192.0.2.0/24", city="Paris"))["country"] == [
        "A location override needs its country."
    ]
    saved = save(name="B", cidrs="192.0.2.0/24", tags="HQ, Paris , HQ,", country="fr", city="Paris")
    assert saved.tags == ["HQ", "Paris"]
    assert saved.country == "FR"


def test_delete(admin):
    services.iprange_delete(iprange=save(), by=admin)
    assert not IpRange.objects.exists()


def test_mark_ip_creates_the_marked_range_and_moves_between_marks(admin):
    save(name="Office", cidrs="203.0.113.0/24")
    risky, added = services.iprange_mark_ip(ip="203.0.113.9", category="risky", by=admin)
    assert (risky.name, risky.category, risky.cidrs, added) == (
        "Marked risky",
        "risky",
        ["203.0.113.9/32"],
        True,
    )
    _, added = services.iprange_mark_ip(ip="203.0.113.9", category="risky", by=admin)
    assert added is False
    services.iprange_mark_ip(ip="2001:db8::5", category="risky", by=admin)
    assert IpRange.objects.get(name="Marked risky").cidrs == ["203.0.113.9/32", "2001:db8::5/128"]

    corporate, _ = services.iprange_mark_ip(ip="203.0.113.9", category="corporate", by=admin)
    assert corporate.cidrs == ["203.0.113.9/32"]
    assert IpRange.objects.get(name="Marked risky").cidrs == ["2001:db8::5/128"]
    services.iprange_mark_ip(ip="2001:db8::5", category="corporate", by=admin)
    assert not IpRange.objects.filter(name="Marked risky").exists()


@pytest.mark.parametrize(
    ("ip", "category", "message"),
    [
        ("ec2.amazonaws.com", "risky", "ec2.amazonaws.com is not an IP address."),
        ("10.0.0.0/8", "risky", "10.0.0.0/8 is a network: mark single IP addresses, or add a range."),
        ("10.0.0.1", "vpn", "An IP address can be marked as corporate or risky."),
    ],
)
def test_mark_ip_refuses(ip, category, message):
    with pytest.raises(ValidationError) as caught:
        services.iprange_mark_ip(ip=ip, category=category)
    assert caught.value.messages == [message]


# Threat feeds

FEED_TEXT = b"""# Tor exit nodes, 2026-11-28
185.220.101.1
185.220.101.2  # a comment after the address
; Spamhaus-style comment
1.10.16.0/20 ; SBL256894

not-an-address
185.220.101.1
10.0.0.5/24
2001:db8::1
300.1.1.1
"""


def tor_feed(**kwargs) -> ThreatFeed:
    return services.feed_save(name="Tor exit nodes", kind=ThreatFeed.Kind.TOR_EXIT_NODES, **kwargs)


def test_feed_tag_defaults_to_the_kind_and_url_must_be_http():
    assert tor_feed().tag == "Tor exit node"
    other = services.feed_save(name="Partner list", kind=ThreatFeed.Kind.OTHER)
    assert other.tag == "Partner list"
    with pytest.raises(ValidationError) as caught:
        services.feed_save(name="Local", kind="botnet", url="file:///etc/passwd")
    assert caught.value.message_dict["url"] == ["Only http:// and https:// addresses can be fetched."]


def test_feed_load_parses_lines_and_reports_bad_ones_by_number():
    feed = tor_feed()
    result = services.feed_load(feed=feed, data=FEED_TEXT)
    assert set(ThreatFeedEntry.objects.filter(feed=feed).values_list("network", flat=True)) == {
        "185.220.101.1/32",
        "185.220.101.2/32",
        "1.10.16.0/20",
        "10.0.0.0/24",
        "2001:db8::1/128",
    }
    assert (result.entries, result.added, result.removed, result.bad_count) == (5, 5, 0, 2)
    assert result.bad_lines == [
        (7, '"not-an-address" is not an IP address or network'),
        (11, '"300.1.1.1" is not an IP address or network'),
    ]
    feed.refresh_from_db()
    assert feed.entry_count == 5
    assert feed.last_loaded_at is not None
    assert feed.last_error == ""
    assert "2 lines skipped: line 7" in feed.last_load_summary


def test_feed_load_reads_csv_first_column_and_skips_its_header():
    feed = tor_feed()
    result = services.feed_load(
        feed=feed, data=b'ip_address,first_seen\n"198.51.100.7",2026-11-01\n192.0.2.1,x\n'
    )
    assert result.entries == 2
    assert result.bad_count == 0


def test_feed_load_replaces_entries_and_keeps_them_when_the_list_is_unusable():
    feed = tor_feed()
    services.feed_load(feed=feed, data=b"192.0.2.1\n192.0.2.2\n")
    result = services.feed_load(feed=feed, data=b"192.0.2.2\n192.0.2.3\n")
    assert (result.added, result.removed) == (1, 1)
    assert set(feed.entries.values_list("network", flat=True)) == {"192.0.2.2/32", "192.0.2.3/32"}
    with pytest.raises(FeedError, match=r"No IP address or network found \(line 2"):
        services.feed_load(feed=feed, data=b"<!doctype html>\n<html><body>Rate limited</body></html>\n")
    with pytest.raises(FeedError, match="The list is empty"):
        services.feed_load(feed=feed, data=b"# nothing here\n")
    feed.refresh_from_db()
    assert feed.entry_count == 2
    assert feed.entries.count() == 2
    assert "The previous entries were kept." in feed.last_error


class FeedServer:
    """A real HTTP server on localhost serving canned answers (no patched urllib)."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes, dict]] = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                status, body, headers = routes.get(self.path, (404, b"not found", {}))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def feed_server():
    server = FeedServer()
    yield server
    server.close()


def test_feed_refresh_fetches_the_url_and_records_errors(feed_server):
    feed_server.routes["/tor.txt"] = (200, b"185.220.101.1\n185.220.101.2\n", {})
    feed_server.routes["/moved"] = (302, b"", {"Location": "ftp://example.com/tor.txt"})
    feed = tor_feed(url=f"{feed_server.url}/tor.txt")
    result = services.feed_refresh(feed_id=feed.pk)
    assert result.entries == 2
    feed.refresh_from_db()
    assert (feed.entry_count, feed.last_error) == (2, "")

    feed.url = f"{feed_server.url}/gone.txt"
    feed.save()
    assert services.feed_refresh(feed_id=feed.pk) is None
    feed.refresh_from_db()
    assert feed.last_error == f"{feed.url} answered HTTP 404 Not Found."
    assert feed.entry_count == 2

    feed.url = f"{feed_server.url}/moved"
    feed.save()
    services.feed_refresh(feed_id=feed.pk)
    feed.refresh_from_db()
    assert "redirect to a non-HTTP address refused" in feed.last_error


def test_fetch_refuses_oversized_lists_and_other_schemes(feed_server):
    feed_server.routes["/big"] = (200, b"192.0.2.1\n" * 200, {})
    with pytest.raises(FeedError, match="larger than 0 MB"):
        services.fetch_feed(f"{feed_server.url}/big", limit=1000)
    with pytest.raises(FeedError, match="Only http"):
        services.fetch_feed("ftp://example.com/list.txt")
    with pytest.raises(FeedError, match="could not be reached"):
        services.fetch_feed("http://127.0.0.1:9/list.txt", timeout=2)


def test_beat_task_fans_out_one_refresh_per_enabled_url_feed(monkeypatch):
    queued = []
    monkeypatch.setattr("defender.tasks.refresh_threat_feed_task.delay", queued.append)
    with_url = tor_feed(url="https://example.com/tor.txt")
    services.feed_save(name="Uploaded", kind="botnet")
    services.feed_save(name="Off", kind="scanner", url="https://example.com/s.txt", enabled=False)
    refresh_threat_feeds_task()
    assert queued == [with_url.pk]


def test_schedule_refreshes_feeds_every_six_hours():
    from defender.schedule import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["defender-refresh-threat-feeds"]
    assert entry == {"task": "defender.refresh_threat_feeds", "schedule": 6 * 60 * 60}


# Management commands


def test_load_threat_feed_command_creates_the_feed(tmp_path, capsys):
    path = tmp_path / "tor.txt"
    path.write_bytes(FEED_TEXT)
    call_command("load_threat_feed", "Tor", str(path), "--kind", "tor_exit_nodes")
    feed = ThreatFeed.objects.get(name="Tor")
    assert (feed.kind, feed.tag, feed.entry_count) == ("tor_exit_nodes", "Tor exit node", 5)
    assert "5 entries (5 added, 0 removed). 2 lines skipped" in capsys.readouterr().out
    path.write_bytes(b"192.0.2.1\n")
    call_command("load_threat_feed", "tor", str(path), "--tag", "Tor (Nov)")
    feed.refresh_from_db()
    assert (feed.kind, feed.tag, feed.entry_count) == ("tor_exit_nodes", "Tor (Nov)", 1)
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("load_threat_feed", "Tor", str(tmp_path / "missing.txt"))


def test_load_ip_ranges_command_creates_updates_and_reports(tmp_path, capsys):
    path = tmp_path / "ip_ranges.json"
    ranges = [
        {"name": "HQ", "cidrs": ["203.0.113.0/24"], "category": "corporate", "tags": ["Office"]},
        {"name": "VPN", "cidrs": ["198.51.100.0/25", "2001:db8::/48"], "category": "vpn", "tags": []},
    ]
    path.write_text(json.dumps(ranges))
    call_command("load_ip_ranges", str(path))
    assert "2 created, 0 updated, 0 failed" in capsys.readouterr().out
    assert IpRange.objects.get(name="VPN").cidrs == ["198.51.100.0/25", "2001:db8::/48"]

    ranges[0]["tags"] = ["Office", "Paris"]
    ranges.append({"name": "Bad", "cidrs": ["10.0.0.300/24"], "category": "other"})
    path.write_text(json.dumps({"ranges": ranges}))
    with pytest.raises(CommandError, match="1 range"):
        call_command("load_ip_ranges", str(path))
    captured = capsys.readouterr()
    assert "0 created, 2 updated, 1 failed" in captured.out
    assert "Bad: 10.0.0.300/24 is not a valid IPv4 or IPv6 network" in captured.err
    assert IpRange.objects.get(name="HQ").tags == ["Office", "Paris"]
