"""The built-in policy templates: one registry, one module per template family.

A template is a class registered with ``@register_template``; its key is a contract (PRODUCT.md 6:
tests, the API and outside tooling depend on it). Activity templates define the default filters a
policy created from them starts with; anomaly templates name the detector
(``policies.engine.detectors``) and its default settings; file templates the inventory check.
Families are imported by ``autodiscover()`` (called from ``PoliciesConfig.ready()``); a duplicate key
raises ``DuplicateTemplate``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, ClassVar

from policies.engine.spec import SINGLE, TYPE_ACTIVITY, TYPE_ANOMALY, TYPE_FILE, PolicySpec

TYPE_ORDER = {TYPE_ACTIVITY: 0, TYPE_ANOMALY: 1, TYPE_FILE: 2}


class DuplicateTemplate(ValueError):
    pass


class Template:
    """A built-in policy: what a new policy of this template starts with."""

    key: ClassVar[str] = ""
    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    type: ClassVar[str] = TYPE_ACTIVITY
    severity: ClassVar[str] = "medium"
    category: ClassVar[str] = ""
    mitre_tactic: ClassVar[str] = ""
    mitre_technique: ClassVar[str] = ""
    match_mode: ClassVar[str] = SINGLE
    repeat_count: ClassVar[int] = 5  # used in repeated mode only: the defaults a person starts from
    repeat_minutes: ClassVar[int] = 10
    repeat_group_by: ClassVar[str] = ""
    default_settings: ClassVar[dict[str, Any]] = {}
    governance_actions: ClassVar[tuple[str, ...]] = ()

    def filters(self) -> list[dict[str, Any]]:
        """The default filter rows."""
        return []

    def spec(self) -> PolicySpec:
        """This template as a policy with default settings (``scan_cloudtrail``)."""
        return PolicySpec(
            key=self.key,
            template_key=self.key,
            name=self.name,
            severity=self.severity,
            type=self.type,
            filters=tuple(self.filters()),
            match_mode=self.match_mode,
            repeat_count=self.repeat_count,
            repeat_minutes=self.repeat_minutes,
            repeat_group_by=self.repeat_group_by,
            settings=dict(self.default_settings),
            description=self.description,
            category=self.category,
            mitre_tactic=self.mitre_tactic,
            mitre_technique=self.mitre_technique,
        )

    def policy_fields(self) -> dict[str, Any]:
        """Field values of a ``policies.Policy`` created from this template."""
        return {
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "template_key": self.key,
            "severity": self.severity,
            "category": self.category,
            "mitre_tactic": self.mitre_tactic,
            "mitre_technique": self.mitre_technique,
            "filters": self.filters(),
            "match_mode": self.match_mode,
            "repeat_count": self.repeat_count,
            "repeat_minutes": self.repeat_minutes,
            "repeat_group_by": self.repeat_group_by,
            "settings": dict(self.default_settings),
            "governance_actions": list(self.governance_actions),
        }

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, **self.policy_fields()}


_TEMPLATES: dict[str, Template] = {}


def register_template(cls: type[Template]) -> type[Template]:
    """Class decorator: register one instance of ``cls`` under ``cls.key``."""
    if not cls.key:
        raise ValueError(f"{cls.__qualname__} has no key")
    known = _TEMPLATES.get(cls.key)
    if known is not None and type(known) is not cls:
        raise DuplicateTemplate(
            f"Template key '{cls.key}' is already registered by "
            f"{type(known).__module__}.{type(known).__qualname__}"
        )
    _TEMPLATES[cls.key] = cls()
    return cls


def unregister_template(key: str) -> None:
    """For tests."""
    _TEMPLATES.pop(key, None)


def get_template(key: str) -> Template | None:
    autodiscover()
    return _TEMPLATES.get(key)


def all_templates(type: str | None = None) -> list[Template]:
    """Registered templates, activity then anomaly then file, each in registration order; of one
    type if given."""
    autodiscover()
    found = [t for t in _TEMPLATES.values() if type is None or t.type == type]
    return sorted(found, key=lambda t: TYPE_ORDER.get(t.type, len(TYPE_ORDER)))


_discovered = False


def autodiscover() -> None:
    """Import every family module of ``policies.templates`` (idempotent)."""
    global _discovered
    if _discovered:
        return
    import policies.templates as package

    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
    _discovered = True
