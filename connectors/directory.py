"""The built-in directory (Settings > Identity provider) and how AWS principals map to people.

A principal maps to a directory user by, in order: an explicit mapping; the IAM user's `email` tag;
an email as the session name (SSO and SAML sessions are named by the person's email); an IAM user
name equal to the local part of exactly one email.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from connectors.models import DirectoryUser, IamUser, PrincipalMapping

MAX_CSV_BYTES = 5 * 1024 * 1024
COLUMNS = ("email", "display name", "status", "terminated at")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _parse_time(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    parsed = parse_datetime(text)
    if parsed is None and (day := parse_date(text)):
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise ValueError(f"'{text}' is not a date or time (expected e.g. 2026-11-27T17:00:00Z)")
    return parsed if parsed.tzinfo else make_aware(parsed)


@dataclass
class DirectoryRow:
    email: str
    display_name: str
    status: str
    terminated_at: datetime | None


def _csv_rows(text: str) -> Iterator[list[str]]:
    try:
        yield from csv.reader(io.StringIO(text, newline=""))
    except csv.Error as error:
        raise ValidationError(f"The file is not a readable CSV: {error}.") from error


def parse_directory_csv(data: bytes) -> tuple[list[DirectoryRow], list[str]]:
    """Rows of a CSV with the columns email, display name, status, terminated at, and the problems of
    the bad ones by line number (pure: the importer and scan_cloudtrail both use it)."""
    if len(data) > MAX_CSV_BYTES:
        raise ValidationError(f"The file is {len(data):,} bytes; the limit is {MAX_CSV_BYTES:,}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError("The file is not UTF-8 text.") from error
    reader = _csv_rows(text)
    header = [cell.strip().lower().replace("_", " ") for cell in next(reader, [])]
    if "email" not in header:
        raise ValidationError(f"The first row must name the columns: {', '.join(COLUMNS)}.")
    rows: list[DirectoryRow] = []
    errors: list[str] = []
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        values = dict(zip(header, [cell.strip() for cell in cells], strict=False))
        try:
            email = values.get("email", "").lower()
            validate_email(email)
            status = (values.get("status") or "active").lower()
            if status not in DirectoryUser.Status.values:
                raise ValueError(f"status '{status}' is not active or terminated")
            terminated_at = _parse_time(values.get("terminated at", ""))
        except (ValueError, ValidationError) as error:
            message = error.messages[0] if isinstance(error, ValidationError) else str(error)
            errors.append(f"Line {line}: {message}")
            continue
        rows.append(
            DirectoryRow(
                email,
                values.get("display name", "")[:200],
                status,
                terminated_at if status == DirectoryUser.Status.TERMINATED else None,
            )
        )
    return rows, errors


def directory_import_csv(*, data: bytes, by=None) -> ImportResult:
    """Create or update users from the CSV; bad rows are reported by line number and skipped."""
    rows, errors = parse_directory_csv(data)
    result = ImportResult(errors=errors)
    with transaction.atomic():
        for row in rows:
            fields = {
                "display_name": row.display_name,
                "status": row.status,
                "terminated_at": row.terminated_at,
            }
            _, created = DirectoryUser.objects.update_or_create(
                email=row.email,
                defaults={**fields, "modified_by": by},
                create_defaults={**fields, "created_by": by, "modified_by": by},
            )
            if created:
                result.created += 1
            else:
                result.updated += 1
    return result


def directory_user_terminate(*, user: DirectoryUser, when: datetime, by) -> None:
    user.status, user.terminated_at, user.modified_by = DirectoryUser.Status.TERMINATED, when, by
    user.save(update_fields=["status", "terminated_at", "modified_by", "modified_at"])


def directory_user_reinstate(*, user: DirectoryUser, by) -> None:
    user.status, user.terminated_at, user.modified_by = DirectoryUser.Status.ACTIVE, None, by
    user.save(update_fields=["status", "terminated_at", "modified_by", "modified_at"])


def principal_mapping_save(*, principal: str, email: str, by) -> PrincipalMapping:
    user = DirectoryUser.objects.filter(email__iexact=email.strip()).first()
    if user is None:
        raise ValidationError(f"No directory user has the email {email}.")
    mapping, _ = PrincipalMapping.objects.update_or_create(
        principal=principal.strip(),
        defaults={"directory_user": user, "modified_by": by},
        create_defaults={"directory_user": user, "created_by": by, "modified_by": by},
    )
    return mapping


@dataclass(frozen=True)
class DirectoryEntry:
    email: str
    display_name: str
    terminated_at: datetime | None


def snapshot_of(rows: list[DirectoryRow]) -> dict[str, DirectoryEntry]:
    """A snapshot from parsed rows alone (scan_cloudtrail: no database)."""
    return _with_local_parts(
        {row.email: DirectoryEntry(row.email, row.display_name, row.terminated_at) for row in rows}
    )


def directory_snapshot() -> dict[str, DirectoryEntry]:
    """Everything detection needs to name a principal's owner, keyed by principal key and by email
    (lower case), in three queries; detectors look principals up without touching the database."""
    entries: dict[str, DirectoryEntry] = {}
    users = {u.pk: u for u in DirectoryUser.objects.all()}
    for user in users.values():
        entries[user.email.lower()] = DirectoryEntry(user.email, user.display_name, user.terminated_at)
    _with_local_parts(entries)
    for arn, email in IamUser.objects.exclude(email="").values_list("arn", "email"):
        if email.lower() in entries:
            entries[arn] = entries[email.lower()]
    for principal, user_id in PrincipalMapping.objects.values_list("principal", "directory_user_id"):
        user = users[user_id]
        entries[principal] = DirectoryEntry(user.email, user.display_name, user.terminated_at)
    return entries


def owner_of(
    principal: str, principal_name: str, snapshot: dict[str, DirectoryEntry]
) -> DirectoryEntry | None:
    """The directory user behind an AWS principal, if any: an explicit mapping or the IAM user's email
    tag (both keyed by principal), an email as session name, or else an IAM user name equal to the
    local part of exactly one email (the common `first.last` naming)."""
    if principal in snapshot:
        return snapshot[principal]
    name = principal_name.lower()
    if "@" in name:
        return snapshot.get(name)
    if not name or not principal.startswith("arn:aws:iam::"):
        return None
    return snapshot.get(f"local:{name}")


def _with_local_parts(entries: dict[str, DirectoryEntry]) -> dict[str, DirectoryEntry]:
    """Index each email's local part too, where exactly one person has it."""
    by_local: dict[str, list[DirectoryEntry]] = {}
    for key, entry in entries.items():
        if "@" in key:
            by_local.setdefault(key.split("@", 1)[0], []).append(entry)
    entries.update({f"local:{local}": found[0] for local, found in by_local.items() if len(found) == 1})
    return entries
