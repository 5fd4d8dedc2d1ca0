"""The Entra ID connection (Settings > Identity provider) and its sync into the directory.

The sync reads every user of the tenant and the deleted users Entra ID still keeps (30 days), and
makes the directory say the same, so ``anomaly_terminated_user`` sees who has left:

- A user is matched by its Entra ID object id, else by email (``mail``, else a user principal name
  that is an email). A matching **built-in** row is taken over: from then on it is an Entra ID row
  and follows Entra ID (its mappings stay, as they name the person). Built-in rows whose email is
  not in Entra ID are never touched.
- ``accountEnabled: false`` -> terminated, at the time the sync first saw it disabled (Graph does
  not say when it was disabled), or the earlier time already known.
- Deleted -> terminated at its ``deletedDateTime``, or the earlier time already known.
- Enabled -> active (a person re-enabled in Entra ID is active again, even if someone terminated
  the row in the portal: for Entra ID rows, Entra ID is the source of truth).
- An Entra ID row whose user is gone altogether (purged after 30 days) -> terminated.
- Two Entra ID users with one email (a new account reusing a deleted one's): the first seen wins,
  enabled users before disabled before deleted; the other is skipped and counted.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors import entra
from connectors.entra import GraphError
from connectors.models import DirectoryUser, EntraConnection
from defender.crypto import SecretUnreadable

logger = logging.getLogger(__name__)

# A sync claimed longer ago than this was left by a worker that died; the next one takes over.
SYNC_CLAIM_MINUTES = 30


class EntraConnectionError(Exception):
    """The connection cannot be saved: Entra ID or Graph refused it (the message says why)."""


@dataclass(frozen=True)
class EntraSettings:
    tenant_id: str
    client_id: str
    client_secret: str  # empty: keep the stored one
    graph_base_url: str = EntraConnection.DEFAULT_GRAPH_BASE_URL
    login_base_url: str = EntraConnection.DEFAULT_LOGIN_BASE_URL


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str


@dataclass
class SyncCounts:
    seen: int = 0
    created: int = 0
    updated: int = 0
    terminated: int = 0
    reinstated: int = 0
    skipped: int = 0


def entra_connection() -> EntraConnection | None:
    return EntraConnection.objects.filter(pk=EntraConnection.SINGLETON_PK).first()


def _client(config: EntraSettings) -> entra.GraphClient:
    secret = config.client_secret
    if not secret:
        stored = entra_connection()
        secret = stored.client_secret if stored else ""
    if not secret:
        raise GraphError("Enter the client secret.")
    return entra.GraphClient(
        tenant_id=config.tenant_id,
        client_id=config.client_id,
        client_secret=secret,
        graph_base_url=config.graph_base_url,
        login_base_url=config.login_base_url,
    )


def entra_connection_test(*, config: EntraSettings) -> ConnectionTest:
    """Sign in with the settings (the stored secret if none is given) and read one user."""
    try:
        client = _client(config)
        first = next(iter(client.list_users(page_size=1)), None)
    except (GraphError, SecretUnreadable) as error:
        return ConnectionTest(False, str(error))
    if first is None:
        return ConnectionTest(True, f"Signed in to tenant {config.tenant_id}; it has no users yet.")
    who = first.get("displayName") or first.get("userPrincipalName") or first.get("id")
    return ConnectionTest(True, f"Signed in to tenant {config.tenant_id} and read a user ({who}).")


@transaction.atomic
def entra_connection_save(*, config: EntraSettings, by) -> EntraConnection:
    """Test, then save the settings and queue a sync. Raises EntraConnectionError if the test fails:
    nothing is saved that cannot sign in."""
    result = entra_connection_test(config=config)
    if not result.ok:
        raise EntraConnectionError(result.message)
    connection = entra_connection() or EntraConnection(pk=EntraConnection.SINGLETON_PK, created_by=by)
    connection.tenant_id = config.tenant_id.strip()
    connection.client_id = config.client_id.strip()
    if config.client_secret:
        connection.client_secret = config.client_secret
    connection.graph_base_url = config.graph_base_url
    connection.login_base_url = config.login_base_url
    connection.enabled = True
    connection.status = EntraConnection.Status.PENDING
    connection.last_error = ""
    connection.modified_by = by
    connection.save()
    entra_sync_request()
    return connection


@transaction.atomic
def entra_connection_set_enabled(*, connection: EntraConnection, enabled: bool, by) -> EntraConnection:
    connection.enabled, connection.modified_by = enabled, by
    connection.save(update_fields=["enabled", "modified_by", "modified_at"])
    if enabled:
        entra_sync_request()
    return connection


def entra_sync_request() -> None:
    """Queue a sync once the current transaction commits."""
    from connectors.tasks import identity_provider_sync_task

    identity_provider_sync_task.delay_on_commit()


def identity_provider_sync() -> SyncCounts | None:
    """Bring the directory in line with Entra ID. None when there is nothing to do: no enabled
    connection, or another sync is running. A Graph failure is recorded on the connection and
    raised (``GraphError.transient`` tells the task whether to retry)."""
    now = timezone.now()
    claimed = (
        EntraConnection.objects.filter(pk=EntraConnection.SINGLETON_PK, enabled=True)
        .filter(
            Q(sync_running_since__isnull=True)
            | Q(sync_running_since__lt=now - timedelta(minutes=SYNC_CLAIM_MINUTES))
        )
        .update(sync_running_since=now, last_attempt_at=now)
    )
    if claimed != 1:
        return None
    mine = EntraConnection.objects.filter(pk=EntraConnection.SINGLETON_PK, sync_running_since=now)
    try:
        client = entra.client_for(EntraConnection.objects.get(pk=EntraConnection.SINGLETON_PK))
        users = list(client.list_users())
        deleted = list(client.list_deleted_users())
        counts = _apply(users, deleted, now)
    except (GraphError, SecretUnreadable) as error:
        mine.update(status=EntraConnection.Status.ERROR, last_error=str(error), sync_running_since=None)
        logger.warning("Entra ID sync failed: %s", error)
        raise
    except BaseException:
        mine.update(sync_running_since=None)
        raise
    mine.update(
        status=EntraConnection.Status.CONNECTED,
        last_error="",
        last_sync_at=timezone.now(),
        sync_counts=asdict(counts),
        sync_running_since=None,
    )
    return counts


def _email_of(user: dict) -> str:
    candidates = [user.get("mail") or ""]
    upn = user.get("userPrincipalName") or ""
    if user.get("deletedDateTime"):
        # Entra ID prefixes a deleted user's UPN with its object id without dashes.
        upn = upn.removeprefix(str(user.get("id", "")).replace("-", ""))
    if "#EXT#" not in upn:  # a guest's UPN is not an address
        candidates.append(upn)
    for candidate in candidates:
        candidate = candidate.strip().lower()
        try:
            validate_email(candidate)
        except ValidationError:
            continue
        return candidate
    return ""


def _deleted_at(user: dict, fallback: datetime) -> datetime:
    parsed = parse_datetime(str(user.get("deletedDateTime") or ""))
    return parsed or fallback


@transaction.atomic
def _apply(users: list[dict], deleted: list[dict], now: datetime) -> SyncCounts:
    counts = SyncCounts()
    rows = list(DirectoryUser.objects.select_for_update())
    by_external = {row.external_id: row for row in rows if row.source == DirectoryUser.Source.ENTRA_ID}
    by_email = {row.email.lower(): row for row in rows}
    claimed: set[int] = set()  # id() of rows matched in this sync
    changed: dict[int, DirectoryUser] = {}
    created: list[DirectoryUser] = []
    # Enabled users claim an email before disabled ones, and those before deleted ones.
    ordered = [(u, None) for u in users if u.get("accountEnabled") is not False]
    ordered += [(u, None) for u in users if u.get("accountEnabled") is False]
    ordered += [(u, _deleted_at(u, now)) for u in deleted]
    for graph_user, deleted_at in ordered:
        counts.seen += 1
        object_id = str(graph_user.get("id") or "")
        email = _email_of(graph_user)
        if not object_id or not email:
            counts.skipped += 1
            continue
        row = by_external.get(object_id) or by_email.get(email)
        if row is not None and id(row) in claimed:
            counts.skipped += 1
            continue
        if row is None:
            row = DirectoryUser(email=email, source=DirectoryUser.Source.ENTRA_ID, external_id=object_id)
            row.status, row.terminated_at = DirectoryUser.Status.ACTIVE, None
            created.append(row)
            by_email[email] = row
            counts.created += 1
        claimed.add(id(row))
        before = (row.email, row.display_name, row.source, row.external_id, row.status, row.terminated_at)
        if row.email.lower() != email and email not in by_email:
            by_email.pop(row.email.lower(), None)
            row.email, by_email[email] = email, row
        row.display_name = (graph_user.get("displayName") or row.display_name)[:200]
        row.source, row.external_id = DirectoryUser.Source.ENTRA_ID, object_id
        was_terminated = row.status == DirectoryUser.Status.TERMINATED
        if deleted_at is not None:
            known = row.terminated_at if was_terminated else None
            row.status, row.terminated_at = (
                DirectoryUser.Status.TERMINATED,
                min(filter(None, (known, deleted_at))),
            )
        elif graph_user.get("accountEnabled") is False:
            row.status = DirectoryUser.Status.TERMINATED
            row.terminated_at = (row.terminated_at if was_terminated else None) or now
        else:
            row.status, row.terminated_at = DirectoryUser.Status.ACTIVE, None
        if row.pk is None:
            continue
        if row.status != DirectoryUser.Status.TERMINATED and was_terminated:
            counts.reinstated += 1
        elif row.status == DirectoryUser.Status.TERMINATED and not was_terminated:
            counts.terminated += 1
        if before != (
            row.email,
            row.display_name,
            row.source,
            row.external_id,
            row.status,
            row.terminated_at,
        ):
            changed[row.pk] = row
    for row in rows:
        # Purged from Entra ID (30 days after deletion) without this portal seeing the deletion.
        if (
            id(row) not in claimed
            and row.source == DirectoryUser.Source.ENTRA_ID
            and row.status == DirectoryUser.Status.ACTIVE
        ):
            row.status, row.terminated_at = DirectoryUser.Status.TERMINATED, now
            changed[row.pk] = row
            counts.terminated += 1
    counts.updated = len(changed)
    for row in changed.values():
        row.modified_at = now
    DirectoryUser.objects.bulk_update(
        changed.values(),
        ["email", "display_name", "source", "external_id", "status", "terminated_at", "modified_at"],
        batch_size=500,
    )
    DirectoryUser.objects.bulk_create(created, batch_size=500)
    counts.terminated += sum(1 for row in created if row.status == DirectoryUser.Status.TERMINATED)
    return counts
