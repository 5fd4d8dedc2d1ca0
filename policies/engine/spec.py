"""A policy as the engine sees it (no ORM), and its compiled form.

``PolicySpec`` is built from a ``policies.Policy`` row (``policies.detection.spec_of``) or from a
built-in template (``Template.spec()``, used by ``scan_cloudtrail``). ``compile_policy`` turns it,
once, into a ``CompiledPolicy``: the filter predicate combined with the scope and the
"only activities that arrive after the policy was saved" rule, plus the (event source, event name)
pairs it can match, by which the engine indexes policies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from policies.engine.fields import ActivityLike
from policies.engine.filters import Condition, Predicate, compile_filters, required_values, validate_filters

TYPE_ACTIVITY = "activity"
TYPE_ANOMALY = "anomaly"
TYPE_FILE = "file"
SINGLE = "single"
REPEATED = "repeated"
GROUP_PRINCIPAL = "principal"
GROUP_IP = "ip"

# principal key -> the groups it belongs to (directory groups, later). None: no groups known.
GroupsOf = Callable[[str], Iterable[str]]


@dataclass(frozen=True, eq=False)
class PolicySpec:
    key: str  # the template key, or "policy:<id>" for a custom policy
    name: str
    severity: str = "medium"
    type: str = TYPE_ACTIVITY
    filters: tuple[Any, ...] = ()
    match_mode: str = SINGLE
    repeat_count: int = 1
    repeat_minutes: int = 0
    repeat_group_by: str = ""
    scope_include: tuple[str, ...] = ()
    scope_exclude: tuple[str, ...] = ()
    active_since: datetime | None = None  # compared with the activity's ingested_at, when it has one
    settings: Mapping[str, Any] = field(default_factory=dict)
    id: int | None = None
    template_key: str = ""
    description: str = ""
    category: str = ""
    mitre_tactic: str = ""
    mitre_technique: str = ""

    @property
    def repeated(self) -> bool:
        return self.match_mode == REPEATED and self.repeat_count > 1 and self.repeat_minutes > 0

    @property
    def window(self) -> timedelta:
        return timedelta(minutes=self.repeat_minutes)


@dataclass(eq=False)
class CompiledPolicy:
    spec: PolicySpec
    conditions: list[Condition]
    predicate: Predicate  # the filters alone
    selects: Predicate  # filters and scope
    matches: Predicate  # filters, scope and active_since
    events: frozenset[tuple[str, str]] | None  # (event_source, event_name) pairs it can match; None: any


def compile_policy(spec: PolicySpec, *, groups_of: GroupsOf | None = None) -> CompiledPolicy:
    conditions = validate_filters(list(spec.filters))
    predicate = compile_filters(conditions)
    matches = predicate
    in_scope = scope_matcher(spec.scope_include, spec.scope_exclude, groups_of)
    if in_scope is not None:
        filtered = matches

        def matches(a: ActivityLike, filtered=filtered, in_scope=in_scope) -> bool:
            return filtered(a) and in_scope(a)

    selects = matches
    if spec.active_since is not None:
        since, scoped = spec.active_since, matches

        def matches(a: ActivityLike, scoped=scoped, since=since) -> bool:
            arrived = a.get("ingested_at")
            return (arrived is None or arrived >= since) and scoped(a)

    sources = required_values(conditions, "event_source")
    names = required_values(conditions, "event_name")
    events = None
    if sources is not None and names is not None:
        events = frozenset((source, name) for source in sources for name in names)
    return CompiledPolicy(spec, conditions, predicate, selects, matches, events)


def scope_matcher(
    include: Iterable[str], exclude: Iterable[str], groups_of: GroupsOf | None = None
) -> Callable[[ActivityLike], bool] | None:
    """Whether an activity's principal is in scope; None when the scope is everyone.

    An entry is a principal key ("arn:aws:iam::123456789012:user/alice"), a key prefix ending in "*"
    ("arn:aws:sts::123456789012:assumed-role/deploy/*": every session of a role), a principal name
    (any case), or "group:<name>" (through ``groups_of``). Exclude wins over include; an empty
    include means everyone.
    """
    included, excluded = Scope.of(include), Scope.of(exclude)
    if not included and not excluded:
        return None

    def in_scope(a: ActivityLike) -> bool:
        principal = a.get("principal") or ""
        name = a.get("principal_name") or ""
        groups = _groups(groups_of, principal, included.groups or excluded.groups)
        if excluded and excluded.holds(principal, name, groups):
            return False
        return not included or included.holds(principal, name, groups)

    return in_scope


def _groups(groups_of: GroupsOf | None, principal: str, wanted: frozenset[str]) -> frozenset[str]:
    if not wanted or groups_of is None:
        return frozenset()
    return frozenset(group.lower() for group in groups_of(principal))


@dataclass(frozen=True)
class Scope:
    keys: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    names: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[str]) -> Scope:
        keys, prefixes, names, groups = set(), [], set(), set()
        for entry in entries or ():
            entry = str(entry).strip()
            if not entry:
                continue
            if entry.lower().startswith("group:"):
                groups.add(entry[6:].strip().lower())
            elif entry.endswith("*"):
                prefixes.append(entry[:-1])
            else:
                keys.add(entry)
                names.add(entry.lower())
        return cls(frozenset(keys), tuple(prefixes), frozenset(names), frozenset(groups))

    def __bool__(self) -> bool:
        return bool(self.keys or self.prefixes or self.names or self.groups)

    def holds(self, principal: str, name: str, groups: frozenset[str]) -> bool:
        return (
            principal in self.keys
            or (bool(name) and name.lower() in self.names)
            or (bool(self.prefixes) and principal.startswith(self.prefixes))
            or not self.groups.isdisjoint(groups)
        )
