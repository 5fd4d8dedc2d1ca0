"""What the policy editor needs beyond the services: filter-row metadata and value hints, the rows of
a posted form, the change history in words, and one policy as a YAML file (export / import by name).

Writes still go through ``policies.services.policy_save``; nothing here touches the database except
the name look-ups of ``unique_name`` and ``policy_import_yaml``.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from connectors.models import Activity
from defender.ipintel.tags import KIND_TAGS
from defender.models import IpRange
from policies.engine.fields import FIELDS, Kind
from policies.engine.filters import NO_VALUE, OPERATORS, FilterError, normalize_filters
from policies.models import Policy, PolicyChange
from policies.services import EDITABLE_FIELDS, policy_save
from policies.templates.registry import all_templates


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# ISO 3166-1 alpha-2: the codes activities carry in ``country``.
COUNTRY_CODES = _words(
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
    "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
    "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
    "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
    "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
    "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
    "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
    "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
    "VN VU WF WS YE YT ZA ZM ZW"
)
AWS_REGIONS = _words(
    "us-east-1 us-east-2 us-west-1 us-west-2 ca-central-1 sa-east-1 eu-west-1 eu-west-2 "
    "eu-west-3 eu-central-1 eu-central-2 eu-north-1 eu-south-1 eu-south-2 ap-northeast-1 "
    "ap-northeast-2 ap-northeast-3 ap-southeast-1 ap-southeast-2 ap-south-1 ap-east-1 me-south-1 "
    "me-central-1 af-south-1 il-central-1"
)
SENSITIVITIES = (("low", "Low"), ("medium", "Medium"), ("high", "High"))
GOVERNANCE_REGISTRY = "governance.actions.registry"
YAML_KEYS = tuple(name for name in EDITABLE_FIELDS)


# --------------------------------------------------------------------------------------------------
# Filter metadata


def field_choices() -> list[tuple[str, str]]:
    return [(f.name, f.label) for f in FIELDS.values()]


def operator_choices() -> list[tuple[str, str]]:
    return list(OPERATORS.items())


def value_hints() -> dict[str, list[str]]:
    """Suggested values per field (a datalist in the editor): free text is still allowed."""
    event_names: dict[str, None] = {}
    sources: dict[str, None] = {}
    for template in all_templates("activity"):
        for row in template.filters():
            if row["field"] == "event_name":
                event_names.update(dict.fromkeys(row["values"]))
            elif row["field"] == "event_source":
                sources.update(dict.fromkeys(row["values"]))
    hints = {
        "event_name": sorted(event_names),
        "event_source": sorted(sources),
        "country": COUNTRY_CODES,
        "region": AWS_REGIONS,
        "ip_category": list(IpRange.Category.values),
        "ip_tags": sorted(set(KIND_TAGS.values())),
        "principal_type": list(Activity.PrincipalType.values),
        "console_login": ["Success", "Failure"],
    }
    for field in FIELDS.values():
        if field.kind is Kind.BOOL:
            hints[field.name] = ["true", "false"]
    return hints


def governance_actions() -> list[tuple[str, str]] | None:
    """(key, label) of the registered governance actions; None when the governance module with its
    action registry is not installed (policies store action keys, never import the actions)."""
    try:
        registry = importlib.import_module(GOVERNANCE_REGISTRY)
    except ImportError:
        return None
    actions = getattr(registry, "all_actions", None)
    items = actions() if callable(actions) else getattr(registry, "ACTIONS", {})
    if isinstance(items, Mapping):
        items = items.values()
    choices = []
    for action in items:
        key = getattr(action, "key", None)
        if key:
            choices.append((key, getattr(action, "label", "") or key))
    return choices


# --------------------------------------------------------------------------------------------------
# Filter rows of a posted form


@dataclass
class FilterRow:
    field: str = ""
    operator: str = "equals"
    values: str = ""
    error: str = ""

    @property
    def needs_value(self) -> bool:
        return self.operator not in NO_VALUE


def rows_from_filters(filters: Iterable[Mapping[str, Any]]) -> list[FilterRow]:
    return [
        FilterRow(
            field=row.get("field", ""),
            operator=row.get("operator", ""),
            values=", ".join(_value_text(value) for value in row.get("values") or ()),
        )
        for row in filters or ()
    ]


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def split_values(text: str) -> list[str]:
    """Values typed in one box: separated by commas or new lines."""
    return [part.strip() for line in text.splitlines() for part in line.split(",") if part.strip()]


def rows_from_post(data) -> list[FilterRow]:
    """The filter rows a form posted (filter_field / filter_operator / filter_values, in order); a row
    with neither a field nor a value is dropped (an empty row the person added and left)."""
    fields = data.getlist("filter_field")
    operators = data.getlist("filter_operator")
    values = data.getlist("filter_values")
    rows = []
    for index, field in enumerate(fields):
        row = FilterRow(
            field=field.strip(),
            operator=(operators[index] if index < len(operators) else "").strip(),
            values=(values[index] if index < len(values) else "").strip(),
        )
        if row.field or row.values:
            rows.append(row)
    return rows


def validate_rows(rows: list[FilterRow]) -> tuple[list[dict[str, Any]], list[str]]:
    """The rows in their stored form, or the engine's message set on each bad row. Returns
    (filters, problems of the whole list); filters is empty when any row is invalid."""
    raw = [{"field": row.field, "operator": row.operator, "values": split_values(row.values)} for row in rows]
    try:
        return normalize_filters(raw), []
    except FilterError as error:
        general = []
        for number, message in error.problems:
            if 1 <= number <= len(rows):
                row = rows[number - 1]
                row.error = f"{row.error} {message}".strip()
            else:
                general.append(message)
        return [], general or ([] if any(row.error for row in rows) else [str(error)])


# --------------------------------------------------------------------------------------------------
# History


@dataclass
class ChangeLine:
    field: str
    old: str
    new: str


FIELD_LABELS = {
    "mitre_tactic": "MITRE tactic",
    "mitre_technique": "MITRE technique",
    "scope_include": "Scope: include",
    "scope_exclude": "Scope: exclude",
    "repeat_count": "Repeated: activities",
    "repeat_minutes": "Repeated: minutes",
    "repeat_group_by": "Repeated: group by",
    "create_alert": "Create alert",
    "daily_alert_limit": "Daily alert limit",
    "email_recipients": "Email recipients",
    "webhook_url": "Webhook URL",
    "governance_actions": "Governance actions",
    "governance_automatic": "Run governance automatically",
    "template_key": "Template",
    "match_mode": "Match",
}


def describe_value(field: str, value: Any) -> str:
    if value is None or value == "" or value == [] or value == {}:
        return "(empty)"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if field == "filters" and isinstance(value, list):
        return "; ".join(
            f"{row.get('field')} {OPERATORS.get(row.get('operator'), row.get('operator'))}"
            + (f" {', '.join(_value_text(v) for v in row.get('values') or ())}" if row.get("values") else "")
            for row in value
            if isinstance(row, Mapping)
        )
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_value_text(v)}" for key, v in value.items())
    return str(value)


def change_lines(change: PolicyChange) -> list[ChangeLine]:
    """What one save changed, field by field, in words (a creation lists nothing: it is the start)."""
    if change.action == PolicyChange.Action.CREATED:
        return []
    lines = []
    for field, pair in (change.changes or {}).items():
        old, new = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        label = FIELD_LABELS.get(field, field.replace("_", " ").capitalize())
        lines.append(ChangeLine(label, describe_value(field, old), describe_value(field, new)))
    return lines


# --------------------------------------------------------------------------------------------------
# Names


def unique_name(base: str) -> str:
    """``base``, or ``base (2)``, ``(3)``... when a policy already has that name."""
    taken = set(Policy.objects.filter(name__startswith=base).values_list("name", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base} ({number})" in taken:
        number += 1
    return f"{base} ({number})"


# --------------------------------------------------------------------------------------------------
# YAML (PRODUCT.md 6.4: one file per policy, for review in git)


def policy_as_dict(policy: Policy) -> dict[str, Any]:
    data = {name: getattr(policy, name) for name in YAML_KEYS}
    if data["type"] != Policy.Type.ACTIVITY:
        for name in ("filters", "match_mode", "repeat_count", "repeat_minutes", "repeat_group_by"):
            data.pop(name)
    return data


def policy_to_yaml(policy: Policy) -> str:
    header = f"# Defender for AWS policy: {policy.name}\n"
    return header + yaml.safe_dump(policy_as_dict(policy), sort_keys=False, allow_unicode=True, width=100)


class PolicyFileError(ValueError):
    """A policy file that cannot be imported; the message says why."""


def policy_import_yaml(*, text: str, by=None) -> tuple[Policy, bool]:
    """Create, or update the policy of the same name, from one YAML (or JSON) policy file. Returns the
    policy and whether it was created. Raises ``PolicyFileError`` or ``ValidationError``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyFileError(f"This is not a YAML or JSON file: {error}") from None
    if not isinstance(data, dict):
        raise PolicyFileError(
            "A policy file holds one policy: a mapping of fields such as name and severity."
        )
    unknown = sorted(str(key) for key in data if key not in YAML_KEYS)
    if unknown:
        raise PolicyFileError(f"Unknown field '{unknown[0]}' in the policy file.")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise PolicyFileError("The policy file needs a name.")
    if not _storable_text(data):
        raise PolicyFileError("The policy file contains a NUL character or invalid Unicode text.")
    # The API's serializer checks every field's type, as for a policy posted to /api/v1/policies/.
    from policies.serializers import PolicySerializer

    existing = Policy.objects.filter(name=name.strip()).first()
    serializer = PolicySerializer(existing, data=data, partial=existing is not None)
    if not serializer.is_valid():
        raise PolicyFileError(_first_error(serializer.errors))
    policy = policy_save(policy=existing, data=dict(serializer.validated_data), by=by)
    return policy, existing is None


def _storable_text(value: Any) -> bool:
    """No NUL character (PostgreSQL refuses it) and no lone surrogate (not UTF-8) in any key or text."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, Mapping):
        return all(_storable_text(k) and _storable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable_text(item) for item in value)
    return True


def _first_error(errors: Any, prefix: str = "") -> str:
    if isinstance(errors, Mapping):
        for key, value in errors.items():
            label = "" if key == "non_field_errors" else f"{prefix}{key}: "
            return _first_error(value, label)
    if isinstance(errors, list) and errors:
        first = errors[0]
        if isinstance(first, (Mapping, list)):
            return _first_error(first, prefix)
        return f"{prefix}{first}"
    return f"{prefix}{json.dumps(errors, default=str)}"


def validation_messages(error: ValidationError) -> dict[str, list[str]]:
    if hasattr(error, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in error.message_dict.items()}
    return {"__all__": list(error.messages)}
