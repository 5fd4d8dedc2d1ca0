"""Settings > IP address ranges and /api/v1/ipranges/ for each role."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from defender.ipintel import services
from defender.models import IpRange, ThreatFeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def office(admin):
    return services.iprange_save(
        name="Office", cidrs="203.0.113.0/24", category="corporate", tags="HQ", by=admin
    )


@pytest.fixture
def tor(admin):
    feed = services.feed_save(
        name="Tor", kind=ThreatFeed.Kind.TOR_EXIT_NODES, url="https://example.com/t", by=admin
    )
    services.feed_load(feed=feed, data=b"185.220.101.1\n")
    return feed


def last_message(response) -> str:
    return [str(m) for m in response.wsgi_request._messages][-1]


def range_post(**overrides) -> dict:
    return {
        "name": "VPN",
        "category": "vpn",
        "cidrs": "198.51.100.0/25\n2001:db8::/48",
        "tags": "Remote",
    } | overrides


@pytest.mark.parametrize("role", ["admin", "operator", "reader"])
def test_every_role_reads_ranges_and_feeds(request, client_for, role, office, tor):
    client = client_for(request.getfixturevalue(role))
    page = client.get(reverse("defender:ipranges")).content.decode()
    assert "Office" in page and "203.0.113.0/24" in page and "HQ" in page
    assert 'class="pill pill-ip-corporate">Corporate<' in page
    feeds = client.get(reverse("defender:threat_feeds")).content.decode()
    assert "Tor" in feeds and "Tor exit node" in feeds and "1 entry (1 added" in feeds
    writes = [reverse("defender:iprange_create"), reverse("defender:threat_feed_create"), "Actions for"]
    if role == "admin":
        assert all(w in page + feeds for w in writes)
    else:
        assert not any(w in page + feeds for w in writes)


def test_list_filters_by_category_search_and_ip(client_for, reader, office):
    services.iprange_save(name="VPN", cidrs="198.51.100.0/25", category="vpn")
    client = client_for(reader)

    def names(**params):
        content = client.get(reverse("defender:ipranges"), params).content.decode()
        return [n for n in ("Office", "VPN") if f"<td>{n}</td>" in content]

    assert names() == ["Office", "VPN"]
    assert names(category="vpn") == ["VPN"]
    assert names(q="hq") == ["Office"]
    assert names(q="198.51.100.77") == ["VPN"]
    assert names(q="203.0.0.0/16") == ["Office"]
    assert names(sort="-name") == ["Office", "VPN"]  # order checked below
    content = client.get(reverse("defender:ipranges"), {"sort": "-name"}).content.decode()
    assert content.index("<td>VPN</td>") < content.index("<td>Office</td>")


def test_list_query_count(client_for, reader, django_assert_max_num_queries):
    for i in range(20):
        services.iprange_save(name=f"Range {i}", cidrs=f"10.{i}.0.0/16", category="other")
    client = client_for(reader)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("defender:ipranges")).status_code == 200


def test_admin_adds_a_range_and_errors_show_by_the_field(client_for, admin):
    client = client_for(admin)
    response = client.post(reverse("defender:iprange_create"), range_post(cidrs="10.0.0.300/24"))
    assert response.status_code == 200
    assert response.context["form"].errors["cidrs"] == ["10.0.0.300/24 is not a valid IPv4 or IPv6 network"]
    assert 'id="id_cidrs_error"' in response.content.decode()
    response = client.post(reverse("defender:iprange_create"), range_post())
    assert response.status_code == 302
    vpn = IpRange.objects.get(name="VPN")
    assert vpn.cidrs == ["198.51.100.0/25", "2001:db8::/48"]
    assert vpn.tags == ["Remote"]
    assert vpn.created_by == admin


def test_overlap_offers_to_save_anyway(client_for, admin, office):
    client = client_for(admin)
    response = client.post(reverse("defender:iprange_create"), range_post(cidrs="203.0.113.128/25"))
    content = response.content.decode()
    assert "203.0.113.128/25 overlaps 203.0.113.0/24 of range &#x27;Office&#x27;" in content
    assert 'name="allow_overlap"' in content
    assert 'name="allow_overlap"' not in client.get(reverse("defender:iprange_create")).content.decode()
    response = client.post(
        reverse("defender:iprange_create"), range_post(cidrs="203.0.113.128/25", allow_overlap="on")
    )
    assert response.status_code == 302
    assert IpRange.objects.filter(name="VPN").exists()


def test_admin_edits_and_deletes_a_range(client_for, admin, office):
    client = client_for(admin)
    form = client.get(reverse("defender:iprange_edit", args=[office.pk])).content.decode()
    assert "203.0.113.0/24</textarea>" in form
    response = client.post(
        reverse("defender:iprange_edit", args=[office.pk]),
        range_post(name="Office", category="corporate", cidrs="203.0.113.0/24\n192.0.2.0/24", country="gb"),
    )
    assert response.status_code == 302
    office.refresh_from_db()
    assert office.cidrs == ["203.0.113.0/24", "192.0.2.0/24"]
    assert office.country == "GB"
    assert client.post(reverse("defender:iprange_delete", args=[office.pk])).status_code == 302
    assert not IpRange.objects.exists()


@pytest.mark.parametrize("role", ["operator", "reader"])
def test_only_admins_write(request, client_for, role, office, tor):
    client = client_for(request.getfixturevalue(role))
    posts = [
        (reverse("defender:iprange_create"), range_post()),
        (reverse("defender:iprange_edit", args=[office.pk]), range_post(name="Office")),
        (reverse("defender:iprange_delete", args=[office.pk]), {}),
        (reverse("defender:iprange_mark"), {"ip": "192.0.2.1", "category": "risky"}),
        (reverse("defender:threat_feed_create"), {"name": "X", "kind": "botnet"}),
        (reverse("defender:threat_feed_edit", args=[tor.pk]), {"name": "X", "kind": "botnet"}),
        (reverse("defender:threat_feed_refresh", args=[tor.pk]), {}),
        (reverse("defender:threat_feed_delete", args=[tor.pk]), {}),
        (
            reverse("defender:threat_feed_upload", args=[tor.pk]),
            {"file": SimpleUploadedFile("t.txt", b"192.0.2.1\n")},
        ),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    for url in (posts[0][0], posts[1][0], posts[4][0], posts[5][0], posts[8][0]):
        assert client.get(url).status_code == 403, url
    office.refresh_from_db()
    assert office.cidrs == ["203.0.113.0/24"]
    assert IpRange.objects.count() == 1
    assert ThreatFeed.objects.get().entry_count == 1


def test_mark_ip_from_the_activity_drawer(client_for, admin, office):
    client = client_for(admin)
    back = "/activity/?ip=192.0.2.44"
    response = client.post(
        reverse("defender:iprange_mark"), {"ip": "192.0.2.44", "category": "risky"}, HTTP_REFERER=back
    )
    assert response.status_code == 302
    assert response["Location"] == back
    marked = IpRange.objects.get(name="Marked risky")
    assert (marked.category, marked.cidrs, marked.created_by) == ("risky", ["192.0.2.44/32"], admin)
    assert last_message(response) == (
        "192.0.2.44 was added to Marked risky: activity from it is classified Risky from now on."
    )

    response = client.post(
        reverse("defender:iprange_mark"),
        {"ip": "203.0.113.7", "category": "corporate"},
        HTTP_REFERER="https://evil.example.com/",
    )
    assert response["Location"] == reverse("defender:ipranges")
    assert IpRange.objects.get(name="Marked corporate").cidrs == ["203.0.113.7/32"]

    response = client.post(reverse("defender:iprange_mark"), {"ip": "ec2.amazonaws.com", "category": "risky"})
    assert last_message(response) == "ec2.amazonaws.com is not an IP address."
    assert client.get(reverse("defender:iprange_mark")).status_code == 405


def test_admin_adds_a_feed_then_uploads_its_list(client_for, admin):
    client = client_for(admin)
    response = client.post(
        reverse("defender:threat_feed_create"), {"name": "Proxies", "kind": "anonymous_proxy"}
    )
    feed = ThreatFeed.objects.get(name="Proxies")
    assert response["Location"] == reverse("defender:threat_feed_upload", args=[feed.pk])
    assert feed.tag == "Anonymous proxy"
    response = client.post(
        reverse("defender:threat_feed_upload", args=[feed.pk]),
        {"file": SimpleUploadedFile("proxies.txt", b"192.0.2.1\nbad line\n192.0.2.0/24\n")},
    )
    assert response.status_code == 302
    feed.refresh_from_db()
    assert feed.entry_count == 2
    assert last_message(response) == (
        "Proxies: 2 entries (2 added, 0 removed). "
        '1 line skipped: line 2: "bad" is not an IP address or network.'
    )


def test_upload_without_usable_entries_is_a_field_error(client_for, admin, tor):
    response = client_for(admin).post(
        reverse("defender:threat_feed_upload", args=[tor.pk]),
        {"file": SimpleUploadedFile("x.html", b"<html>\n<p>oops</p>\n")},
    )
    assert response.status_code == 200
    assert "No IP address or network found" in response.context["form"].errors["file"][0]
    tor.refresh_from_db()
    assert tor.entry_count == 1


def test_oversized_upload_is_refused(client_for, admin, tor):
    big = SimpleUploadedFile("big.txt", b"192.0.2.1\n" * (services.MAX_FEED_BYTES // 10 + 1))
    response = client_for(admin).post(reverse("defender:threat_feed_upload", args=[tor.pk]), {"file": big})
    assert response.status_code == 200
    assert response.context["form"].errors["file"] == [
        "The file is larger than 20 MB, the most a list can be. Split it, or load it with the "
        "load_threat_feed management command."
    ]
    tor.refresh_from_db()
    assert tor.entry_count == 1


def test_upload_checks_csrf(admin, tor):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    response = client.post(
        reverse("defender:threat_feed_upload", args=[tor.pk]),
        {"file": SimpleUploadedFile("t.txt", b"192.0.2.1")},
    )
    assert response.status_code == 403


def test_refresh_now_queues_url_feeds_only(client_for, admin, tor, monkeypatch):
    queued = []
    monkeypatch.setattr("defender.tasks.refresh_threat_feed_task.delay_on_commit", queued.append)
    client = client_for(admin)
    client.post(reverse("defender:threat_feed_refresh", args=[tor.pk]))
    assert queued == [tor.pk]
    uploaded = services.feed_save(name="Uploaded", kind="scanner")
    response = client.post(reverse("defender:threat_feed_refresh", args=[uploaded.pk]))
    assert last_message(response) == "Uploaded has no URL: upload its list instead."
    assert queued == [tor.pk]


def test_admin_deletes_a_feed(client_for, admin, tor):
    assert client_for(admin).post(reverse("defender:threat_feed_delete", args=[tor.pk])).status_code == 302
    assert not ThreatFeed.objects.exists()


# API


def test_api_reads_for_every_role_and_writes_for_admins(client_for, admin, operator, reader, office):
    url = "/api/v1/ipranges/"
    body = {"name": "VPN", "cidrs": ["198.51.100.0/25"], "category": "vpn", "tags": ["Remote"]}
    for user in (operator, reader):
        client = client_for(user)
        listed = client.get(url).json()
        assert listed["results"][0]["name"] == "Office"
        assert client.post(url, body, content_type="application/json").status_code == 403
        assert client.delete(f"{url}{office.pk}/").status_code == 403
        assert (
            client.patch(f"{url}{office.pk}/", {"tags": []}, content_type="application/json").status_code
            == 403
        )
    client = client_for(admin)
    created = client.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created.json()["created_by"] == admin.username
    patched = client.patch(f"{url}{office.pk}/", {"tags": ["HQ", "Paris"]}, content_type="application/json")
    assert patched.json()["tags"] == ["HQ", "Paris"]
    assert patched.json()["cidrs"] == ["203.0.113.0/24"]
    assert client.get(url, {"category": "vpn"}).json()["count"] == 1
    assert client.delete(f"{url}{office.pk}/").status_code == 204


def test_api_validates_through_the_service(client_for, admin, office):
    client = client_for(admin)
    url = "/api/v1/ipranges/"
    response = client.post(
        url,
        {"name": "office", "cidrs": ["10.0.0.5/24", "203.0.113.0/25"], "category": "other"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "name": ["A range named 'office' already exists."],
        "cidrs": ["10.0.0.5/24 has host bits set: did you mean 10.0.0.0/24?"],
        "detail": "name: A range named 'office' already exists.",
        "code": "invalid",
    }
    response = client.post(
        url,
        {"name": "Lab", "cidrs": ["203.0.113.0/25"], "category": "other"},
        content_type="application/json",
    )
    assert response.json()["cidrs"] == ["203.0.113.0/25 overlaps 203.0.113.0/24 of range 'Office'"]
    response = client.post(
        url,
        {"name": "Lab", "cidrs": ["203.0.113.0/25"], "category": "other", "allow_overlap": True},
        content_type="application/json",
    )
    assert response.status_code == 201


def test_anonymous_api_is_refused(client):
    assert client.get("/api/v1/ipranges/").status_code in (401, 403)
