"""The detection engine: pure code that turns activities into findings (no ORM, no network).

Public API: ``compile_filters`` / ``validate_filters`` / ``FilterError`` (filters), ``PolicySpec`` /
``compile_policy`` (a policy as the engine sees it), ``evaluate_batch`` with a ``HistoryProvider``
(``MemoryHistory``, ``NoHistory``; the database one is ``policies.detection.DbHistory``), ``Finding``,
and the anomaly detector registry in ``policies.engine.detectors``.
"""

from policies.engine.evaluate import HistoryProvider, MemoryHistory, NoHistory, evaluate_batch
from policies.engine.fields import FIELDS, ActivityLike, as_activity
from policies.engine.filters import (
    OPERATORS,
    FilterError,
    compile_filters,
    normalize_filters,
    validate_filters,
)
from policies.engine.findings import Finding
from policies.engine.spec import CompiledPolicy, PolicySpec, compile_policy

__all__ = [
    "FIELDS",
    "OPERATORS",
    "ActivityLike",
    "CompiledPolicy",
    "FilterError",
    "Finding",
    "HistoryProvider",
    "MemoryHistory",
    "NoHistory",
    "PolicySpec",
    "as_activity",
    "compile_filters",
    "compile_policy",
    "evaluate_batch",
    "normalize_filters",
    "validate_filters",
]
