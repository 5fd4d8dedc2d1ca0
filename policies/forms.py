"""The policy editor's forms. They validate what a person typed and hand ``policy_save`` its data;
filter rows are validated by the engine (``policies.editor.validate_rows``) and shown by the row."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from policies.editor import (
    SENSITIVITIES,
    FilterRow,
    governance_actions,
    rows_from_filters,
    rows_from_post,
    validate_rows,
)
from policies.models import MAX_REPEAT_COUNT, MAX_REPEAT_MINUTES, Policy

CATEGORIES = ("Threat detection", "Privileged accounts", "Compliance", "Configuration", "Sharing control")
PREVIEW_DAYS = ((1, "Last 24 hours"), (7, "Last 7 days"), (30, "Last 30 days"))


def _lines(text: str) -> list[str]:
    return list(dict.fromkeys(line.strip() for line in (text or "").splitlines() if line.strip()))


class PolicyFormMixin:
    """Alert settings (``add_alert_fields``) and a service's ValidationError attached to the fields
    it names (or to the form)."""

    def clean_email_recipients(self) -> list[str]:
        return _emails(self.cleaned_data.get("email_recipients", ""))

    def add_service_errors(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                if field == "filters":
                    self.filter_problems.extend(str(m) for e in errors for m in e.messages)
                    self.add_error(None, "Fix the filters below.")
                else:
                    self.add_error(field if field in self.fields else None, errors)
        else:
            self.add_error(None, error)


class ScopeMixin(forms.Form):
    scope_include = forms.CharField(
        label="Include only",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text="Principal ARNs, names, prefixes ending in * or group:<name>, one per line. "
        "Empty: everyone.",
    )
    scope_exclude = forms.CharField(
        label="Exclude",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        help_text="Same entries, one per line. Exclude wins over include.",
    )

    def clean_scope_include(self) -> list[str]:
        return _lines(self.cleaned_data["scope_include"])

    def clean_scope_exclude(self) -> list[str]:
        return _lines(self.cleaned_data["scope_exclude"])


class MatchMixin(forms.Form):
    match_mode = forms.ChoiceField(
        label="Alert on", choices=Policy.MatchMode.choices, widget=forms.RadioSelect, initial="single"
    )
    repeat_count = forms.IntegerField(
        label="Minimum activities", min_value=2, max_value=MAX_REPEAT_COUNT, initial=5, required=False
    )
    repeat_minutes = forms.IntegerField(
        label="Within minutes", min_value=1, max_value=MAX_REPEAT_MINUTES, initial=10, required=False
    )
    repeat_group_by = forms.ChoiceField(label="Group by", choices=Policy.GroupBy.choices, required=False)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("match_mode") == Policy.MatchMode.REPEATED:
            for name in ("repeat_count", "repeat_minutes"):
                if cleaned.get(name) is None and name not in self.errors:
                    self.add_error(name, "Repeated activity needs this.")
        return cleaned


class FilterRowsMixin:
    """Filter rows live outside Django's fields: parallel lists filter_field / filter_operator /
    filter_values, one entry per row."""

    def init_rows(self, rows: list[FilterRow] | None) -> None:
        self.filter_problems: list[str] = []
        self.filters: list[dict[str, Any]] = []
        if self.is_bound:
            self.filter_rows = rows_from_post(self.data)
        else:
            self.filter_rows = rows if rows is not None else []

    def clean_rows(self) -> None:
        self.filters, general = validate_rows(self.filter_rows)
        self.filter_problems.extend(general)
        if self.filter_problems or any(row.error for row in self.filter_rows):
            self.add_error(None, "Fix the filters below.")


class ActivityPolicyForm(PolicyFormMixin, FilterRowsMixin, ScopeMixin, MatchMixin, forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    enabled = forms.BooleanField(label="Enabled", required=False, initial=True)
    severity = forms.ChoiceField(choices=Policy.Severity.choices, initial=Policy.Severity.MEDIUM)
    category = forms.CharField(
        max_length=64, required=False, widget=forms.TextInput(attrs={"list": "policy-categories"})
    )
    mitre_tactic = forms.CharField(label="MITRE ATT&CK tactic", max_length=64, required=False)
    mitre_technique = forms.CharField(label="MITRE ATT&CK technique", max_length=128, required=False)

    def __init__(self, *args, rows: list[FilterRow] | None = None, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        add_alert_fields(self)
        self.init_rows(rows)
        self.read_only = read_only
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def clean(self):
        cleaned = super().clean()
        self.clean_rows()
        return cleaned

    def to_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data["filters"] = self.filters
        if data["match_mode"] == Policy.MatchMode.SINGLE:
            for name in ("repeat_count", "repeat_minutes"):
                if data.get(name) is None:
                    data.pop(name)
        data["repeat_group_by"] = data.get("repeat_group_by") or ""
        return alert_data(data)

    @classmethod
    def initial_for(cls, values: dict[str, Any]) -> tuple[dict[str, Any], list[FilterRow]]:
        initial = dict(values)
        initial["scope_include"] = "\n".join(values.get("scope_include") or ())
        initial["scope_exclude"] = "\n".join(values.get("scope_exclude") or ())
        initial["email_recipients"] = "\n".join(values.get("email_recipients") or ())
        return initial, rows_from_filters(values.get("filters") or ())


class DetectorPolicyForm(PolicyFormMixin, ScopeMixin, forms.Form):
    """Anomaly detection and file policies: what the detector does is fixed; how loud it is is not."""

    enabled = forms.BooleanField(label="Enabled", required=False)
    severity = forms.ChoiceField(choices=Policy.Severity.choices)
    sensitivity = forms.ChoiceField(
        choices=SENSITIVITIES,
        widget=forms.RadioSelect,
        initial="medium",
        help_text="Low alerts only on the clearest deviations; high alerts on smaller ones.",
    )

    def __init__(self, *args, policy: Policy, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.filter_problems: list[str] = []
        add_alert_fields(self)
        if policy.type == Policy.Type.FILE:
            del self.fields["sensitivity"]
            del self.fields["scope_include"]
            del self.fields["scope_exclude"]
        self.read_only = read_only
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    def to_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        sensitivity = data.pop("sensitivity", None)
        if sensitivity:
            data["settings"] = {**(self.policy.settings or {}), "sensitivity": sensitivity}
        return alert_data(data)

    @classmethod
    def initial_for(cls, policy: Policy) -> dict[str, Any]:
        return {
            "enabled": policy.enabled,
            "severity": policy.severity,
            "sensitivity": (policy.settings or {}).get("sensitivity", "medium"),
            "scope_include": "\n".join(policy.scope_include or ()),
            "scope_exclude": "\n".join(policy.scope_exclude or ()),
            "create_alert": policy.create_alert,
            "daily_alert_limit": policy.daily_alert_limit,
            "email_recipients": "\n".join(policy.email_recipients or ()),
            "webhook_url": policy.webhook_url,
            "governance_actions": policy.governance_actions,
            "governance_automatic": policy.governance_automatic,
        }


def add_alert_fields(form: forms.Form) -> None:
    """Alert settings and governance, the same on every kind of policy."""
    form.fields["create_alert"] = forms.BooleanField(label="Create an alert for each match", required=False)
    form.fields["daily_alert_limit"] = forms.IntegerField(
        label="Daily alert limit", min_value=1, max_value=100_000, initial=100
    )
    form.fields["email_recipients"] = forms.CharField(
        label="Email recipients",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false"}),
        help_text="One address per line (or separated by commas).",
    )
    form.fields["webhook_url"] = forms.URLField(
        label="Webhook URL", required=False, max_length=500, assume_scheme="https"
    )
    actions = governance_actions()
    form.governance_available = actions is not None
    if actions:
        form.fields["governance_actions"] = forms.MultipleChoiceField(
            label="Run these actions", choices=actions, required=False, widget=forms.CheckboxSelectMultiple
        )
        form.fields["governance_automatic"] = forms.BooleanField(
            label="Run them automatically when an alert is raised", required=False
        )


def _emails(text: str) -> list[str]:
    addresses = [part for part in re.split(r"[\s,;]+", text or "") if part]
    bad = []
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
    if bad:
        raise ValidationError(f"Not an email address: {', '.join(bad)}.")
    return list(dict.fromkeys(addresses))


def alert_data(data: dict[str, Any]) -> dict[str, Any]:
    if "create_alert" in data and data.get("daily_alert_limit") is None:
        data.pop("daily_alert_limit")
    return data


class PreviewForm(FilterRowsMixin, ScopeMixin, MatchMixin, forms.Form):
    """The part of a draft the preview runs: filters, match and scope, and the period."""

    preview_days = forms.TypedChoiceField(choices=PREVIEW_DAYS, coerce=int, initial=7, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_rows(None)

    def clean(self):
        cleaned = super().clean()
        self.clean_rows()
        return cleaned


class ImportForm(forms.Form):
    file = forms.FileField(
        label="Policy file",
        help_text="One policy as YAML or JSON, as exported. A policy with the same name is updated.",
    )
