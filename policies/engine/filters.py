"""Policy filters: rows of ``{"field", "operator", "values"}``, all of which must hold.

``validate_filters`` checks and normalizes the rows, raising ``FilterError`` with one message a
person can act on per problem ("Unknown field 'evnt_name'", "Operator 'contains' needs a value").
``compile_filters`` turns them, once per policy, into a predicate over an activity mapping (see
``policies.engine.fields``) that runs in a few hundred nanoseconds.

Semantics, pinned by the tests:

- ``equals`` / ``not_equals`` take one value, ``in`` / ``not_in`` / ``contains`` / ``starts_with``
  one or more (any of them), ``is_set`` / ``is_not_set`` none.
- ``equals`` and ``in`` compare exactly (event names, ARNs and region codes are case-sensitive in
  AWS); ``contains`` and ``starts_with`` ignore case. Country codes are compared upper-case and IP
  addresses in their canonical form, whatever the filter says.
- On list fields (``ip_tags``, ``resource``, ``resource_type``) ``equals``/``in`` mean "one element
  is", ``not_equals``/``not_in`` "no element is", ``contains``/``starts_with`` "one element does",
  ``is_set`` "the list is not empty".
- An absent value (no IP for a call made by an AWS service, unknown MFA) is "not set": it never
  equals anything, always satisfies ``not_equals`` / ``not_in``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from policies.engine.fields import FIELDS, ActivityLike, FieldDef, Kind

Predicate = Callable[[ActivityLike], bool]

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "in": "is one of",
    "not_in": "is none of",
    "contains": "contains",
    "starts_with": "starts with",
    "is_set": "is set",
    "is_not_set": "is not set",
}
ONE_VALUE = frozenset({"equals", "not_equals"})
SOME_VALUES = frozenset({"in", "not_in", "contains", "starts_with"})
NO_VALUE = frozenset({"is_set", "is_not_set"})
TEXT_ONLY = frozenset({"contains", "starts_with"})
ROW_KEYS = frozenset({"field", "operator", "values", "value"})
TRUE_WORDS = frozenset({"true", "yes", "1", "on"})
FALSE_WORDS = frozenset({"false", "no", "0", "off"})


class FilterError(ValueError):
    """Invalid filters. ``messages`` holds one message per problem; ``rows`` the 1-based row of each
    (0 when the problem is with the whole list)."""

    def __init__(self, problems: Sequence[tuple[int, str]]):
        self.problems = list(problems)
        super().__init__("; ".join(self.described))

    @property
    def messages(self) -> list[str]:
        return [message for _, message in self.problems]

    @property
    def rows(self) -> list[int]:
        return [row for row, _ in self.problems]

    @property
    def described(self) -> list[str]:
        """Messages with their row, as an editor shows them ("Row 2: Unknown field 'x'")."""
        return [f"Row {row}: {message}" if row else message for row, message in self.problems]


@dataclass(frozen=True, slots=True)
class Condition:
    """One validated row. ``values`` are normalized (booleans for boolean fields, upper-case countries,
    canonical IPs, lower-case for contains/starts_with)."""

    field: FieldDef
    operator: str
    values: tuple[Any, ...]

    def as_row(self) -> dict[str, Any]:
        return {"field": self.field.name, "operator": self.operator, "values": list(self.values)}


def validate_filters(filters: Any) -> list[Condition]:
    """The rows as ``Condition``s; ``FilterError`` listing every problem if any row is invalid."""
    if filters is None:
        return []
    if not isinstance(filters, (list, tuple)):
        raise FilterError([(0, "Filters must be a list of rows with field, operator and values")])
    problems: list[tuple[int, str]] = []
    conditions: list[Condition] = []
    for number, row in enumerate(filters, start=1):
        try:
            conditions.append(_condition(row))
        except _RowError as error:
            problems.append((number, str(error)))
    if problems:
        raise FilterError(problems)
    return conditions


def normalize_filters(filters: Any) -> list[dict[str, Any]]:
    """Validated rows in their stored form ``[{"field", "operator", "values"}]``."""
    return [condition.as_row() for condition in validate_filters(filters)]


class _RowError(Exception):
    pass


def _condition(row: Any) -> Condition:
    if not isinstance(row, dict):
        raise _RowError("A filter row must be an object with field, operator and values")
    unknown = sorted(str(key) for key in row if key not in ROW_KEYS)
    if unknown:
        raise _RowError(f"Unknown key '{unknown[0]}' (a row has field, operator and values)")
    name = row.get("field")
    if not isinstance(name, str) or not name.strip():
        raise _RowError("A filter row needs a field")
    field = FIELDS.get(name.strip())
    if field is None:
        raise _RowError(f"Unknown field '{name}'")
    operator = row.get("operator")
    if not isinstance(operator, str) or not operator.strip():
        raise _RowError(f"A filter on '{field.name}' needs an operator")
    operator = operator.strip()
    if operator not in OPERATORS:
        raise _RowError(f"Unknown operator '{operator}'")
    if operator in TEXT_ONLY and field.kind is Kind.BOOL:
        raise _RowError(f"Operator '{operator}' does not apply to field '{field.name}' (true or false)")

    raw = row.get("values", row.get("value"))
    if raw is None:
        raw = []
    elif not isinstance(raw, (list, tuple)):
        raw = [raw]
    values = [_value(field, operator, value) for value in raw]
    values = [value for value in values if value != ""]
    if operator in NO_VALUE:
        if values:
            raise _RowError(f"Operator '{operator}' takes no value")
    elif not values:
        raise _RowError(f"Operator '{operator}' needs a value")
    elif operator in ONE_VALUE and len(values) > 1:
        raise _RowError(f"Operator '{operator}' takes one value; use '{_plural(operator)}' for several")
    return Condition(field, operator, tuple(dict.fromkeys(values)))


def _plural(operator: str) -> str:
    return "not_in" if operator == "not_equals" else "in"


def _value(field: FieldDef, operator: str, value: Any) -> Any:
    if field.kind is Kind.BOOL:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise _RowError(f"Field '{field.name}' takes true or false, not {value!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _RowError(f"Values of '{field.name}' must be text, not {value!r}")
    text = str(value).strip()
    if not text:
        return ""
    if operator in TEXT_ONLY:
        return text.lower()
    if field.name == "country":
        return text.upper()
    if field.name == "ip_address":
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise _RowError(f"'{text}' is not an IP address (use 'starts_with' for a prefix)") from None
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return str(address)
    return text


# --------------------------------------------------------------------------------------------------
# Compilation


def compile_filters(filters: Any) -> Predicate:
    """A predicate over one activity mapping: True when every row holds. Validates first
    (``FilterError``). No rows: everything matches."""
    conditions = filters if _are_conditions(filters) else validate_filters(filters)
    clauses = [_clause(condition) for condition in conditions]
    return _all(clauses)


def _are_conditions(filters: Any) -> bool:
    return isinstance(filters, (list, tuple)) and all(isinstance(item, Condition) for item in filters)


def _all(clauses: list[Predicate]) -> Predicate:
    # Unrolled for the common sizes: a Python-level loop costs more than the clauses themselves.
    if not clauses:
        return _always
    if len(clauses) == 1:
        return clauses[0]
    if len(clauses) == 2:
        first, second = clauses
        return lambda a: first(a) and second(a)
    if len(clauses) == 3:
        first, second, third = clauses
        return lambda a: first(a) and second(a) and third(a)
    items = tuple(clauses)

    def every(a: ActivityLike) -> bool:
        for clause in items:  # noqa: SIM110 - a loop is faster than all() over a generator
            if not clause(a):
                return False
        return True

    return every


def _always(activity: ActivityLike) -> bool:
    return True


def _clause(condition: Condition) -> Predicate:
    field, operator, values = condition.field, condition.operator, condition.values
    if field.kind is Kind.LIST:
        return _list_clause(field, operator, values)
    key = field.key
    if field.kind is Kind.BOOL:
        if operator == "is_set":
            return lambda a: a.get(key) is not None
        if operator == "is_not_set":
            return lambda a: a.get(key) is None
        wanted = frozenset(values)
        if operator in ("equals", "in"):
            if len(wanted) == 1:
                (only,) = wanted
                return lambda a: a.get(key) == only
            return lambda a: a.get(key) in wanted
        if len(wanted) == 1:
            (only,) = wanted
            return lambda a: a.get(key) != only
        return lambda a: a.get(key) not in wanted

    # Text. Absent values (None) read as "".
    if operator == "equals":
        (value,) = values
        return lambda a: a.get(key) == value
    if operator == "not_equals":
        (value,) = values
        return lambda a: a.get(key) != value
    if operator == "in":
        wanted = frozenset(values)
        return lambda a: a.get(key) in wanted
    if operator == "not_in":
        wanted = frozenset(values)
        return lambda a: a.get(key) not in wanted
    if operator == "contains":
        parts = tuple(values)
        return lambda a: _contains((a.get(key) or "").lower(), parts)
    if operator == "starts_with":
        prefixes = tuple(values)
        return lambda a: (a.get(key) or "").lower().startswith(prefixes)
    if operator == "is_set":
        return lambda a: bool(a.get(key))
    return lambda a: not a.get(key)


def _contains(text: str, parts: tuple[str, ...]) -> bool:
    for part in parts:  # noqa: SIM110 - a loop is faster than any() over a generator
        if part in text:
            return True
    return False


def list_values(field: FieldDef, activity: ActivityLike) -> list[str]:
    """The elements of a list field of one activity."""
    items = activity.get(field.key) or ()
    if not field.element:
        return [item for item in items if isinstance(item, str)]
    element = field.element
    return [
        item.get(element) or "" for item in items if isinstance(item, dict) and item.get(element) is not None
    ]


def _list_clause(field: FieldDef, operator: str, values: tuple[Any, ...]) -> Predicate:
    def elements(a: ActivityLike) -> list[str]:
        return list_values(field, a)

    wanted = frozenset(values)
    if operator in ("equals", "in"):
        return lambda a: not wanted.isdisjoint(elements(a))
    if operator in ("not_equals", "not_in"):
        return lambda a: wanted.isdisjoint(elements(a))
    if operator == "contains":
        parts = tuple(values)
        return lambda a: any(_contains(item.lower(), parts) for item in elements(a))
    if operator == "starts_with":
        prefixes = tuple(values)
        return lambda a: any(item.lower().startswith(prefixes) for item in elements(a))
    if operator == "is_set":
        return lambda a: bool(elements(a))
    return lambda a: not elements(a)


def required_values(conditions: Iterable[Condition], field_name: str) -> frozenset[str] | None:
    """The values ``field_name`` must take for every row to hold, when rows pin it with equals/in
    (intersected over such rows); None when nothing pins it. Used to index policies by event."""
    allowed: frozenset[str] | None = None
    for condition in conditions:
        if condition.field.name == field_name and condition.operator in ("equals", "in"):
            values = frozenset(condition.values)
            allowed = values if allowed is None else allowed & values
    return allowed
