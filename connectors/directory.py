"""The built-in directory (Settings > Identity provider) and how AWS principals map to people.

A principal maps to a directory user by, in order: an explicit mapping; an email as the session name
(SSO and SAML sessions are named by the person's email); the IAM user's `email` tag.
"""

from __future__ import annotations

import csv
import io
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


def directory_import_csv(*, data: bytes, by=None) -> ImportResult:
    """Create or update users from a CSV with the columns email, display name, status, terminated at.
    Bad rows are reported by line number and skipped; good rows are saved."""
    if len(data) > MAX_CSV_BYTES:
        raise ValidationError(f"The file is {len(data):,} bytes; the limit is {MAX_CSV_BYTES:,}.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValidationError("The file is not UTF-8 text.") from error
    reader = csv.reader(io.StringIO(text))
    header = [cell.strip().lower().replace("_", " ") for cell in next(reader, [])]
    if "email" not in header:
        raise ValidationError(f"The first row must name the columns: {', '.join(COLUMNS)}.")
    result = ImportResult()
    with transaction.atomic():
        for line, row in enumerate(reader, start=2):
            if not any(cell.strip() for cell in row):
                continue
            values = dict(zip(header, [cell.strip() for cell in row], strict=False))
            try:
                email = values.get("email", "").lower()
                validate_email(email)
                status = (values.get("status") or "active").lower()
                if status not in DirectoryUser.Status.values:
                    raise ValueError(f"status '{status}' is not active or terminated")
                terminated_at = _parse_time(values.get("terminated at", ""))
            except (ValueError, ValidationError) as error:
                message = error.messages[0] if isinstance(error, ValidationError) else str(error)
                result.errors.append(f"Line {line}: {message}")
                continue
            _, created = DirectoryUser.objects.update_or_create(
                email=email,
                defaults={
                    "display_name": values.get("display name", "")[:200],
                    "status": status,
                    "terminated_at": terminated_at if status == DirectoryUser.Status.TERMINATED else None,
                    "modified_by": by,
                },
                create_defaults={
                    "display_name": values.get("display name", "")[:200],
                    "status": status,
                    "terminated_at": terminated_at if status == DirectoryUser.Status.TERMINATED else None,
                    "created_by": by,
                    "modified_by": by,
                },
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


def directory_snapshot() -> dict[str, DirectoryEntry]:
    """Everything detection needs to name a principal's owner, keyed by principal key and by email
    (lower case), in three queries; detectors look principals up without touching the database."""
    entries: dict[str, DirectoryEntry] = {}
    users = {u.pk: u for u in DirectoryUser.objects.all()}
    for user in users.values():
        entries[user.email.lower()] = DirectoryEntry(user.email, user.display_name, user.terminated_at)
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
    """The directory user behind an AWS principal, if any (explicit mapping, email session, IAM tag)."""
    if principal in snapshot:
        return snapshot[principal]
    if "@" in principal_name:
        return snapshot.get(principal_name.lower())
    return None
