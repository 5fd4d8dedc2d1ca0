"""Journey: an administrator connects Microsoft Entra ID (the local fake Graph), tests the connection,
saves it, and sees the people a real Celery worker synchronized into the directory."""

import pytest
from playwright.sync_api import expect

from connectors.models import DirectoryUser, EntraConnection
from tests.workers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PEOPLE = [
    ("Alice Kim", "alice.kim@example.com", True),
    ("Bruno Costa", "bruno.costa@example.com", True),
    ("Chen Wei", "chen.wei@example.com", True),
    ("Dana Levi", "dana.levi@example.com", False),
    ("Eunji Han", "eunji.han@example.com", True),
    ("Farid Haddad", "farid.haddad@example.com", True),
]


def test_connect_entra_id_test_it_sync_and_see_the_people(
    page, sign_in, screenshot, admin, fake_graph, settings, celery_worker
):
    settings.AWS_ADVANCED_MODE = True
    people = {
        mail: fake_graph.add_user(name, mail, account_enabled=enabled) for name, mail, enabled in PEOPLE
    }
    fake_graph.delete_user(people["eunji.han@example.com"]["id"], when="2026-11-27T17:00:00Z")
    DirectoryUser.objects.create(email="contractor@partner.example", display_name="Pat Contractor")

    sign_in(admin)
    page.goto("/settings/identity-provider/")
    entra = page.locator("#entra-id")
    expect(entra).to_contain_text("Not connected")
    entra.get_by_label("Tenant ID").fill(fake_graph.tenant_id)
    entra.get_by_label("Client ID").fill(fake_graph.client_id)
    entra.get_by_label("Client secret").fill("not-the-secret")
    entra.get_by_label("Graph base URL").fill(fake_graph.base_url)
    entra.get_by_label("Sign-in base URL").fill(fake_graph.login_url)

    entra.get_by_role("button", name="Test connection").click()
    expect(page.locator("#entra-test-result")).to_contain_text("The client secret is wrong (AADSTS7000215)")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky top bar stays on top in the full-page shot
    screenshot("identity-provider-test-failed")
    entra.get_by_label("Client secret").fill(fake_graph.client_secret)
    entra.get_by_role("button", name="Test connection").click()
    expect(page.locator("#entra-test-result")).to_contain_text("Connection works")
    expect(entra.get_by_label("Client secret")).to_have_value(fake_graph.client_secret)  # kept while testing

    entra.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Microsoft Entra ID is connected")).to_be_visible()
    assert fake_graph.client_secret not in page.content()

    wait_for(lambda: EntraConnection.objects.filter(status="connected").exists(), timeout=60)
    page.goto("/settings/identity-provider/")
    expect(entra).to_contain_text("Connected")
    expect(entra).to_contain_text("Stored, encrypted")
    expect(entra).to_contain_text("6 read: 6 new, 0 updated, 2 terminated")
    rows = page.locator(".data-table tbody tr")
    expect(rows).to_have_count(7)
    expect(rows.filter(has_text="dana.levi@example.com")).to_contain_text("Terminated")
    expect(rows.filter(has_text="eunji.han@example.com")).to_contain_text("Terminated")
    from_entra = {"role": "img", "name": "From Microsoft Entra ID"}
    expect(rows.filter(has_text="alice.kim@example.com").get_by_role(**from_entra)).to_be_visible()
    expect(rows.filter(has_text="contractor@partner.example").get_by_role(**from_entra)).to_have_count(0)
    # Entra ID decides who is terminated: only built-in people have the button.
    expect(page.get_by_role("button", name="Terminate")).to_have_count(1)
    screenshot("identity-provider-synced")

    fake_graph.users[people["bruno.costa@example.com"]["id"]]["accountEnabled"] = False
    page.get_by_role("toolbar").get_by_role("button", name="Sync now").click()
    expect(page.get_by_text("A sync of Entra ID users was queued.")).to_be_visible()
    wait_for(
        lambda: DirectoryUser.objects.get(email="bruno.costa@example.com").status == "terminated", timeout=60
    )
    page.reload()
    expect(rows.filter(has_text="bruno.costa@example.com")).to_contain_text("Terminated")
