"""Settings > IP address ranges in a real browser: add a range (fixing a bad CIDR), upload a feed."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TOR_LIST = b"""# Tor exit nodes
185.220.101.1
185.220.101.2
2a0b:f4c2::/40
not-an-address
"""


def test_admin_adds_a_range_and_uploads_a_threat_feed(page, sign_in, screenshot, admin):
    sign_in(admin)
    page.get_by_role("navigation", name="Main navigation").get_by_role(
        "link", name="IP address ranges"
    ).click()
    expect(page.get_by_role("heading", name="No IP address ranges yet")).to_be_visible()
    page.get_by_role("toolbar").get_by_role("link", name="Add range").click()

    page.get_by_label("Name").fill("Paris office")
    page.get_by_label("Category").select_option(label="Corporate")
    page.get_by_label("IP addresses and networks").fill("203.0.113.0/24\n10.0.0.300/24")
    page.get_by_label("Tags").fill("HQ, Paris")
    page.get_by_role("button", name="Add range").click()
    field = page.locator(".field").filter(has=page.get_by_label("IP addresses and networks"))
    expect(field.locator(".field-error")).to_have_text("10.0.0.300/24 is not a valid IPv4 or IPv6 network")
    expect(page.get_by_label("IP addresses and networks")).to_have_attribute("aria-invalid", "true")
    screenshot("iprange-form-error")

    page.get_by_label("IP addresses and networks").fill("203.0.113.0/24\n2001:db8:100::/48")
    page.get_by_role("button", name="Add range").click()
    expect(page.get_by_role("status")).to_contain_text("Range Paris office was added (2 networks).")
    row = page.get_by_role("row").filter(has_text="Paris office")
    expect(row).to_contain_text("203.0.113.0/24, 2001:db8:100::/48")
    expect(row).to_contain_text("Corporate")
    expect(row).to_contain_text("HQ")
    screenshot("ipranges")

    page.get_by_role("link", name="Threat feeds").click()
    expect(page.get_by_role("heading", name="No threat feeds yet")).to_be_visible()
    page.get_by_role("toolbar").get_by_role("link", name="Add feed").click()
    page.get_by_label("Name").fill("Tor exit nodes")
    page.get_by_label("Kind").select_option(label="Tor exit nodes")
    screenshot("threat-feed-form")
    page.get_by_role("button", name="Add feed").click()
    expect(page.get_by_role("status")).to_contain_text("Feed Tor exit nodes was added. Upload its list.")
    page.get_by_label("List file").set_input_files(
        {"name": "tor-exit-nodes.txt", "mimeType": "text/plain", "buffer": TOR_LIST}
    )
    screenshot("threat-feed-upload")
    page.get_by_role("button", name="Upload list").click()
    expect(page.get_by_role("status")).to_contain_text(
        'Tor exit nodes: 3 entries (3 added, 0 removed). 1 line skipped: line 5: "not-an-address"'
    )
    row = page.get_by_role("row").filter(has_text="Tor exit nodes")
    expect(row).to_contain_text("Tor exit node")
    expect(row).to_contain_text("Uploaded file")
    expect(row).to_contain_text("Loaded")
    expect(row.locator("td.numeric")).to_have_text("3")
    screenshot("threat-feeds")


def test_reader_sees_ranges_without_write_commands(page, sign_in, screenshot, reader):
    from defender.ipintel import services

    services.iprange_save(name="VPN egress", cidrs="198.51.100.0/28", category="vpn", tags="Remote")
    services.iprange_save(name="Marked risky", cidrs="192.0.2.66", category="risky")
    sign_in(reader)
    page.goto("/settings/ip-ranges/")
    expect(page.get_by_role("row").filter(has_text="VPN egress")).to_contain_text("198.51.100.0/28")
    expect(page.get_by_role("link", name="Add range")).to_have_count(0)
    expect(page.get_by_role("button", name="Actions for VPN egress")).to_have_count(0)
    screenshot("ipranges-reader")
