"""Keyset pagination: stable and fast at any depth (no OFFSET), over any ordering that ends in the
primary key. The activity log walks ``-event_time, -pk``; the alerts queue walks each of its sort
keys with the primary key as the tiebreak.

A cursor holds the sort-key values of the row a page stopped at, and which way to walk from it.
Ordering fields must not be null (a null never compares, so its rows would be skipped).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

PAGE_SIZE = 50
ACTIVITY_ORDER = ("-event_time", "-pk")


@dataclass
class KeysetPage:
    rows: list
    next_cursor: str | None
    previous_cursor: str | None = None


def _field(term: str) -> tuple[str, bool]:
    """("-created_at") -> ("created_at", descending)."""
    return term.removeprefix("-"), term.startswith("-")


def encode_cursor(values: Sequence, *, backwards: bool = False) -> str:
    plain = [value.isoformat() if isinstance(value, date | datetime) else value for value in values]
    text = json.dumps({"v": plain, "b": backwards}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, width: int) -> tuple[list, bool] | None:
    """The values and direction in ``cursor``, or None when it is not one of ours for ``width`` keys.
    Values come back as JSON types; the database fields convert them (ISO text to datetimes)."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values, backwards = data["v"], data["b"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(values, list) or len(values) != width or not isinstance(backwards, bool):
        return None
    return values, backwards


def _beyond(order: Sequence[str], values: Sequence, backwards: bool) -> Q:
    """Rows strictly after ``values`` in ``order`` (strictly before them when walking backwards)."""
    condition = Q()
    equal: dict = {}
    for term, value in zip(order, values, strict=True):
        name, descending = _field(term)
        lookup = "lt" if descending != backwards else "gt"
        step = Q(**equal, **{f"{name}__{lookup}": value})
        condition = step if not equal else condition | step
        equal[name] = value
    first, descending = _field(order[0])
    # The same bound on the leading key alone lets the database range-scan its index.
    bound = Q(**{f"{first}__{'lte' if descending != backwards else 'gte'}": values[0]})
    return bound & condition


def _values(row, order: Sequence[str]) -> list:
    return [getattr(row, _field(term)[0]) for term in order]


def keyset_page(
    queryset: QuerySet, cursor: str | None, size: int = PAGE_SIZE, order: Sequence[str] = ACTIVITY_ORDER
) -> KeysetPage:
    """One page of ``queryset`` in ``order`` (which ends in ``pk`` or ``-pk``), from ``cursor``: where
    the previous page stopped (``next_cursor``) or where the following page started
    (``previous_cursor``). An unreadable cursor gives the first page."""
    position = decode_cursor(cursor, len(order)) if cursor else None
    backwards = False
    if position:
        values, backwards = position
        try:
            queryset = queryset.filter(_beyond(order, values, backwards))
        except (ValidationError, ValueError, TypeError):
            position, backwards = None, False
    walk = [term[1:] if term.startswith("-") else f"-{term}" for term in order] if backwards else order
    rows = list(queryset.order_by(*walk)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    has_next = True if backwards else more
    has_previous = more if backwards else position is not None
    return KeysetPage(
        rows,
        encode_cursor(_values(rows[-1], order)) if rows and has_next else None,
        encode_cursor(_values(rows[0], order), backwards=True) if rows and has_previous else None,
    )
