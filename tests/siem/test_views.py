"""Settings > SIEM export: everyone reads, only Global administrators change anything."""

import pytest
from django.urls import reverse

from siem import services
from siem.models import SiemDestination
from siem.services import DestinationSettings
from tests.siem.listeners import SyslogListener, raise_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def destination(db):
    return services.destination_save(
        config=DestinationSettings(name="SOC", transport="syslog_tcp", host="127.0.0.1", port=9), by=None
    )


def form_data(**changes) -> dict:
    data = {
        "name": "Splunk",
        "transport": "syslog_tcp",
        "format": "cef",
        "host": "splunk.example.com",
        "port": "514",
        "tls_verify": "on",
        "export_alerts": "on",
        "export_alert_updates": "on",
        "min_severity": "low",
        "enabled": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_list_shows_status_backlog_and_last_error(client_for, reader, destination):
    raise_alert(1)
    raise_alert(2)
    SiemDestination.objects.filter(pk=destination.pk).update(
        consecutive_failures=2, last_error="tcp://127.0.0.1:9: Connection refused"
    )
    response = client_for(reader).get(reverse("siem:destinations"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "SOC" in body and "127.0.0.1:9" in body
    assert "Failing" in body and "Connection refused" in body
    assert "2 to send" in body
    # Readers see the page without the commands.
    assert "Add destination" not in body
    assert reverse("siem:delete", args=[destination.pk]) not in body


def test_empty_state_offers_adding_to_admins(client_for, admin):
    body = client_for(admin).get(reverse("siem:destinations")).content.decode()
    assert "No SIEM destination yet" in body
    assert reverse("siem:create") in body


@pytest.mark.parametrize("role", ["reader", "operator"])
def test_only_admins_change_destinations(request, client_for, role, destination):
    client = client_for(request.getfixturevalue(role))
    assert client.get(reverse("siem:create")).status_code == 403
    assert client.post(reverse("siem:create"), form_data()).status_code == 403
    assert client.get(reverse("siem:edit", args=[destination.pk])).status_code == 403
    for name in ("set_enabled", "send_test", "delete"):
        assert client.post(reverse(f"siem:{name}", args=[destination.pk])).status_code == 403
    assert SiemDestination.objects.count() == 1
    assert SiemDestination.objects.get().enabled


def test_admin_adds_a_destination(client_for, admin):
    response = client_for(admin).post(reverse("siem:create"), form_data())
    assert response.status_code == 302
    saved = SiemDestination.objects.get(name="Splunk")
    assert (saved.transport, saved.format, saved.host, saved.port) == (
        "syslog_tcp",
        "cef",
        "splunk.example.com",
        514,
    )
    assert saved.min_severity == "low" and not saved.export_activities
    assert saved.created_by == admin
    assert set(saved.cursors.values_list("stream", flat=True)) == {"alerts", "alert_updates"}


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"host": "not a host!"}, "host", "not a host name or an IP address"),
        ({"host": ""}, "host", "Enter the syslog server"),
        ({"port": "70000"}, "port", "less than or equal to 65535"),
        ({"port": ""}, "port", "Enter the syslog server"),
        ({"transport": "webhook", "webhook_url": "ftp://x"}, "webhook_url", "Enter an http(s) URL"),
        ({"transport": "syslog_tls", "tls_ca_pem": "junk"}, "tls_ca_pem", "PEM"),
        ({"export_alerts": None, "export_alert_updates": None}, "export_alerts", "at least one"),
    ],
)
def test_invalid_settings_are_refused_on_their_field(client_for, admin, changes, field, message):
    response = client_for(admin).post(reverse("siem:create"), form_data(**changes))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    assert not SiemDestination.objects.exists()


def test_duplicate_name_is_refused(client_for, admin, destination):
    response = client_for(admin).post(reverse("siem:create"), form_data(name="soc"))
    assert "already exists" in response.context["form"].errors["name"][0]


def test_webhook_secret_is_kept_unless_replaced_or_removed(client_for, admin):
    client = client_for(admin)
    data = form_data(
        transport="webhook", webhook_url="https://siem.example.com/in", webhook_secret="first-Secret-7q"
    )
    client.post(reverse("siem:create"), data)
    saved = SiemDestination.objects.get()
    assert saved.webhook_secret == "first-Secret-7q"
    edit = reverse("siem:edit", args=[saved.pk])
    page = client.get(edit).content.decode()
    assert "first-Secret-7q" not in page  # never shown again
    client.post(edit, {**data, "webhook_secret": ""})
    assert SiemDestination.objects.get().webhook_secret == "first-Secret-7q"
    client.post(edit, {**data, "webhook_secret": "two"})
    assert SiemDestination.objects.get().webhook_secret == "two"
    client.post(edit, {**data, "webhook_secret": "", "remove_webhook_secret": "on"})
    assert SiemDestination.objects.get().webhook_secret == ""


def test_admin_pauses_tests_and_deletes(client_for, admin, destination):
    client = client_for(admin)
    client.post(reverse("siem:set_enabled", args=[destination.pk]), {"enabled": "0"})
    assert not SiemDestination.objects.get().enabled

    listener = SyslogListener("tcp")
    try:
        SiemDestination.objects.filter(pk=destination.pk).update(port=listener.port)
        response = client.post(reverse("siem:send_test", args=[destination.pk]), follow=True)
        assert "A test message was sent to SOC" in response.content.decode()
        assert listener.wait_for(1)[0]["msgid"] == "test"
    finally:
        listener.close()
    response = client.post(reverse("siem:send_test", args=[destination.pk]), follow=True)
    assert "The test message to SOC failed" in response.content.decode()

    client.post(reverse("siem:delete", args=[destination.pk]))
    assert not SiemDestination.objects.exists()


def test_writes_need_post(client_for, admin, destination):
    client = client_for(admin)
    for name in ("set_enabled", "send_test", "delete"):
        assert client.get(reverse(f"siem:{name}", args=[destination.pk])).status_code == 405
