"""Settings > SIEM export in a real browser: add a syslog destination (fixing a bad port), send a test
message to a real listener, see alerts delivered, delete with confirmation."""

import pytest
from playwright.sync_api import expect

from siem import services
from siem.models import SiemDestination
from tests.siem.listeners import SyslogListener, raise_alert

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def listener():
    server = SyslogListener("tcp")
    yield server
    server.close()


def test_admin_sets_up_a_syslog_destination(page, sign_in, screenshot, admin, listener):
    sign_in(admin)
    page.get_by_role("navigation", name="Main navigation").get_by_role("link", name="SIEM export").click()
    expect(page.get_by_role("heading", name="No SIEM destination yet")).to_be_visible()
    screenshot("siem-empty")
    page.get_by_role("toolbar").get_by_role("link", name="Add destination").click()

    page.get_by_label("Name", exact=True).fill("SOC syslog")
    page.get_by_label("Send over").select_option(label="Syslog over TCP")
    page.get_by_label("Format", exact=True).select_option(label="CEF (Common Event Format)")
    # Webhook fields are hidden for syslog, and the other way round.
    expect(page.get_by_label("Webhook URL")).to_be_hidden()
    page.get_by_label("Host", exact=True).fill("127.0.0.1")
    page.get_by_label("Port", exact=True).fill("70000")
    page.get_by_label("Minimum alert severity").select_option(label="Medium")
    page.get_by_role("button", name="Add destination").click()
    expect(
        page.locator(".field").filter(has=page.get_by_label("Port", exact=True)).locator(".field-error")
    ).to_contain_text("65535")
    screenshot("siem-form-error")

    page.get_by_label("Port", exact=True).fill(str(listener.port))
    page.get_by_role("button", name="Add destination").click()
    expect(page.get_by_role("status")).to_contain_text("Destination SOC syslog was added.")
    row = page.get_by_role("row").filter(has_text="SOC syslog")
    expect(row).to_contain_text(f"127.0.0.1:{listener.port}")
    expect(row).to_contain_text("Not sent yet")

    row.get_by_label("Actions for SOC syslog").click()
    row.get_by_role("menuitem", name="Send test message").click()
    expect(page.get_by_role("status")).to_contain_text("A test message was sent to SOC syslog")
    assert listener.wait_for(1)[0]["msgid"] == "test"

    raise_alert(1, severity="high", title="CloudTrail configuration changes: StopLogging by alice")
    raise_alert(2, severity="low")
    raise_alert(3, severity="medium")
    page.reload()
    expect(page.get_by_role("row").filter(has_text="SOC syslog")).to_contain_text("2 to send")
    screenshot("siem-backlog")
    services.destination_export(destination_id=SiemDestination.objects.get(name="SOC syslog").pk)
    assert [m["msgid"] for m in listener.wait_for(3)] == ["test", "alert", "alert"]
    page.reload()
    row = page.get_by_role("row").filter(has_text="SOC syslog")
    expect(row).to_contain_text("Delivering")
    expect(row).to_contain_text("Up to date")
    screenshot("siem-destinations")

    row.get_by_label("Actions for SOC syslog").click()
    row.get_by_role("menuitem", name="Delete").click()
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_contain_text("Delete the destination SOC syslog?")
    dialog.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Destination SOC syslog was deleted.")
    expect(page.get_by_role("heading", name="No SIEM destination yet")).to_be_visible()


def test_reader_sees_destinations_without_commands(page, sign_in, reader, listener):
    services.destination_save(
        config=services.DestinationSettings(
            name="SOC syslog", transport="syslog_udp", host="127.0.0.1", port=listener.port
        ),
        by=None,
    )
    sign_in(reader)
    page.goto("/settings/siem/")
    expect(page.get_by_role("row").filter(has_text="SOC syslog")).to_contain_text("Syslog over UDP")
    expect(page.get_by_role("link", name="Add destination")).to_have_count(0)
    expect(page.get_by_label("Actions for SOC syslog")).to_have_count(0)
