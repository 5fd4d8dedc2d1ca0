"""Policy filters and scopes as database conditions on connectors.Activity.

``filters_q`` returns a Q and whether it is exact. Rows on list fields (IP tags, resources) become a
looser text search, so the Q is then a superset and callers apply the compiled filters to what it
returns; every other row translates exactly, with the same semantics as ``compile_filters`` (absent
values never equal anything, contains/starts_with ignore case).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import Q

from policies.engine.fields import Kind
from policies.engine.filters import Condition, validate_filters
from policies.engine.spec import Scope

NOTHING = Q(pk__in=[])


def filters_q(filters: Any) -> tuple[Q, bool]:
    conditions = filters if _are_conditions(filters) else validate_filters(filters)
    combined, exact = Q(), True
    for condition in conditions:
        q, row_exact = condition_q(condition)
        combined &= q
        exact = exact and row_exact
    return combined, exact


def _are_conditions(filters: Any) -> bool:
    return isinstance(filters, (list, tuple)) and all(isinstance(item, Condition) for item in filters)


def condition_q(condition: Condition) -> tuple[Q, bool]:
    field, operator, values = condition.field, condition.operator, list(condition.values)
    path = field.db
    if field.kind is Kind.LIST:
        return _list_q(path, operator, values), False
    # Nullable columns (ip_address, mfa_used) store "not set" as NULL, never as "".
    if operator == "is_set":
        if field.nullable:
            return Q(**{f"{path}__isnull": False}), True
        return (~Q(**{path: ""}) if field.kind is Kind.TEXT else Q()), True
    if operator == "is_not_set":
        if field.nullable:
            return Q(**{f"{path}__isnull": True}), True
        return (Q(**{path: ""}) if field.kind is Kind.TEXT else NOTHING), True
    if operator == "equals":
        return Q(**{path: values[0]}), True
    if operator == "not_equals":
        return ~Q(**{path: values[0]}), True
    if operator == "in":
        return Q(**{f"{path}__in": values}), True
    if operator == "not_in":
        return ~Q(**{f"{path}__in": values}), True
    lookup = "icontains" if operator == "contains" else "istartswith"
    return _any(Q(**{f"{path}__{lookup}": value}) for value in values), True


def _list_q(path: str, operator: str, values: list[Any]) -> Q:
    # A superset: the JSON text of the list contains each wanted value (JSON escaping aside, which
    # is why values that JSON would escape are not searched for).
    if operator in ("equals", "in", "contains", "starts_with"):
        searchable = [
            v for v in values if isinstance(v, str) and v.isascii() and '"' not in v and "\\" not in v
        ]
        if len(searchable) != len(values):
            return Q()
        return _any(Q(**{f"{path}__icontains": value}) for value in searchable)
    return Q()


def _any(qs: Iterable[Q]) -> Q:
    combined = None
    for q in qs:
        combined = q if combined is None else combined | q
    return combined if combined is not None else NOTHING


def scope_q(include: Iterable[str], exclude: Iterable[str]) -> tuple[Q, bool]:
    """The scope as a condition; not exact when it names groups (resolved in Python)."""
    included, excluded = Scope.of(include), Scope.of(exclude)
    q, exact = Q(), True
    if included:
        q &= _scope_entries(included)
        exact = not included.groups
    if excluded:
        if excluded.groups:
            exact = False
        if excluded.keys or excluded.prefixes or excluded.names:
            q &= ~_scope_entries(excluded, with_groups=False)
    return q, exact


def _scope_entries(scope: Scope, *, with_groups: bool = True) -> Q:
    parts = [Q(principal__in=list(scope.keys))] if scope.keys else []
    parts += [Q(principal__startswith=prefix) for prefix in scope.prefixes]
    parts += [Q(principal_name__iexact=name) for name in scope.names]
    if scope.groups and with_groups:
        return Q()  # any principal may be in a group: the caller checks in Python
    return _any(parts)
