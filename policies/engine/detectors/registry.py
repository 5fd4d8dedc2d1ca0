"""The anomaly detector registry.

A detector is the code behind an anomaly detection policy (PRODUCT.md 6.2); its ``key`` is the
policy's template key (``anomaly_impossible_travel``...). Detectors live in modules of this package
(``policies/engine/detectors/<name>.py``), imported by ``PoliciesConfig.ready()`` through
``autodiscover``::

    @register_detector
    class ImpossibleTravel(Detector):
        key = "anomaly_impossible_travel"
        label = "Impossible travel"

        def observe(self, activities, state) -> list[Finding]:
            ...  # no ORM, no network

The contract:

- ``Detector(policy, context)`` is made per policy and per run; ``context`` carries reference data the
  caller looked up once (``{"directory": ...}``: the identity provider's people, see
  ``connectors.directory``); ``self.policy`` is the ``PolicySpec`` (name,
  severity, scope already applied, ``settings`` such as ``{"sensitivity": "medium"}``).
- ``observe(activities, state)`` receives the activities of one batch that are in the policy's scope
  and pass its filters, as mappings (``policies.engine.fields``), sorted by event time, and ``state``:
  a JSON-serializable dict the detector owns (baselines, learning start, open suppressions). The
  caller persists it between batches (``policies.models.DetectorState``; in memory for
  ``scan_cloudtrail``, starting empty at the first event of the files). Learning periods are counted
  in event time. It returns ``Finding``s built with ``self.finding(...)``.
- Anomaly policies whose key has no registered detector are skipped by the engine.

A duplicate key raises ``DuplicateDetector``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from policies.engine.fields import ActivityLike, activity_ref, ip_or_source, time_order
from policies.engine.findings import MAX_FINDING_ACTIVITIES, Finding
from policies.engine.spec import PolicySpec

SENSITIVITIES = ("low", "medium", "high")


class DuplicateDetector(ValueError):
    pass


class Detector:
    """Base class of anomaly detectors (see the module docstring for the contract)."""

    key: ClassVar[str] = ""
    label: ClassVar[str] = ""
    default_settings: ClassVar[dict[str, Any]] = {"sensitivity": "medium"}

    def __init__(self, policy: PolicySpec, context: Mapping[str, Any] | None = None):
        self.policy = policy
        # Reference data the caller looked up once for the run, e.g. {"directory": ...} (no ORM here).
        self.context: Mapping[str, Any] = context or {}
        self.settings: dict[str, Any] = {**self.default_settings, **dict(policy.settings or {})}

    @property
    def sensitivity(self) -> str:
        value = self.settings.get("sensitivity", "medium")
        return value if value in SENSITIVITIES else "medium"

    def observe(self, activities: Sequence[ActivityLike], state: dict[str, Any]) -> list[Finding]:
        raise NotImplementedError

    def finding(
        self,
        *,
        activities: Sequence[ActivityLike],
        title: str,
        evidence: dict[str, Any] | None = None,
        description: str = "",
        principal: str | None = None,
        group_key: str = "",
        key: str = "",
        extend_open: bool = True,
    ) -> Finding:
        """A finding of this detector's policy over ``activities`` (at least one). ``key`` defaults to
        policy + group + first activity, so re-running a batch finds the same finding again."""
        ordered = sorted(activities, key=time_order)
        first, last = ordered[0], ordered[-1]
        principal = first.get("principal", "") if principal is None else principal
        kept = ordered if len(ordered) <= MAX_FINDING_ACTIVITIES else ordered[-MAX_FINDING_ACTIVITIES:]
        ids = tuple(a["id"] for a in kept if a.get("id") is not None)
        spec = self.policy
        return Finding(
            policy_key=spec.key,
            policy_id=spec.id,
            title=title,
            severity=spec.severity,
            principal=principal,
            principal_name=first.get("principal_name", "") or "",
            description=description,
            first_seen=first["event_time"],
            last_seen=last["event_time"],
            key=key or f"{spec.id or spec.key}|{group_key}|{activity_ref(first)}",
            activity_ids=ids,
            event_ids=tuple(a.get("event_id", "") for a in ordered),
            activity_count=len(ordered),
            evidence=evidence or {},
            group_key=group_key,
            connector_id=first.get("connector_id"),
            extend_open=extend_open,
            ips=tuple(dict.fromkeys(ip for a in ordered if (ip := ip_or_source(a)))),
            countries=tuple(dict.fromkeys(c for a in ordered if (c := a.get("country")))),
        )


_DETECTORS: dict[str, type[Detector]] = {}


def register_detector(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make ``cls`` the detector of policies whose template key is ``cls.key``."""
    if not cls.key:
        raise ValueError(f"{cls.__qualname__} has no key")
    known = _DETECTORS.get(cls.key)
    if known is not None and known is not cls:
        raise DuplicateDetector(
            f"Detector key '{cls.key}' is already registered by {known.__module__}.{known.__qualname__}"
        )
    _DETECTORS[cls.key] = cls
    return cls


def unregister_detector(key: str) -> None:
    """For tests."""
    _DETECTORS.pop(key, None)


def get_detector(key: str) -> type[Detector] | None:
    return _DETECTORS.get(key)


def all_detectors() -> dict[str, type[Detector]]:
    return dict(_DETECTORS)


def autodiscover() -> None:
    """Import every module of this package, which registers its detectors (idempotent)."""
    import policies.engine.detectors as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "registry" and not module.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{module.name}")
