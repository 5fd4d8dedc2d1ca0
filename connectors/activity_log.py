"""Keyset pagination over activities: stable and fast at any depth (no OFFSET)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

PAGE_SIZE = 50


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None


def encode_cursor(event_time: datetime, pk: int) -> str:
    return base64.urlsafe_b64encode(f"{event_time.isoformat()}|{pk}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    try:
        time_text, pk_text = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(time_text), int(pk_text)
    except (ValueError, UnicodeDecodeError):
        return None


def keyset_page(queryset: QuerySet, cursor: str | None, size: int = PAGE_SIZE) -> KeysetPage:
    """Newest first; ``cursor`` is where the previous page stopped."""
    position = decode_cursor(cursor) if cursor else None
    if position:
        time, pk = position
        queryset = queryset.filter(Q(event_time__lt=time) | Q(event_time=time, pk__lt=pk))
    rows = list(queryset.order_by("-event_time", "-pk")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return KeysetPage(rows, encode_cursor(rows[-1].event_time, rows[-1].pk) if more else None)
