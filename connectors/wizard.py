"""The connect-app wizard for Amazon Web Services, step by step.

What was typed is kept in the session between steps so Back and Next lose nothing; the secret access
key is kept there only encrypted and is never put back into a page.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass, field, fields, replace

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from connectors import aws, iam_policies, services, validation
from connectors.aws import AwsCredentials, ErrorKind
from connectors.forms import AccessKeyForm, HistoryForm, MethodForm, NameForm, RoleForm
from connectors.models import Connector
from connectors.services import ConnectorSettings, ConnectorValidationError
from connectors.validation import PERMISSION_CHECKS, Check, ValidationReport
from defender import crypto
from defender.roles import Perm, require_perm

STEPS = [
    ("name", "Instance name"),
    ("method", "Connection type"),
    ("credentials", "Credentials"),
    ("history", "History"),
    ("validate", "Validate and connect"),
]
STEP_KEYS = [key for key, _ in STEPS]


def _blank_settings() -> ConnectorSettings:
    # An empty auth method and history mark the Connection type and History steps as still to do.
    return ConnectorSettings(name="", auth_method="", history_days=0)


@dataclass
class Draft:
    """The wizard's answers so far: the ConnectorSettings it will save, bar the secret, which the
    session keeps only encrypted (``secret_token``), and the last validation report with what it
    was run on."""

    config: ConnectorSettings = field(default_factory=_blank_settings)
    secret_token: str = ""
    report: ValidationReport | None = None
    report_fingerprint: str = ""

    @classmethod
    def for_connector(cls, connector: Connector) -> Draft:
        saved = {
            f.name: getattr(connector, f.name)
            for f in fields(ConnectorSettings)
            if f.name != "secret_access_key"
        }
        return cls(config=ConnectorSettings(**{**saved, "regions": tuple(connector.regions)}))

    @classmethod
    def from_session(cls, stored: dict) -> Draft:
        report = stored["report"]
        return cls(
            config=ConnectorSettings(**{**stored["config"], "regions": tuple(stored["config"]["regions"])}),
            secret_token=stored["secret_token"],
            report=ValidationReport(**{**report, "checks": [Check(**c) for c in report["checks"]]})
            if report
            else None,
            report_fingerprint=stored["report_fingerprint"],
        )

    def update(self, **changes) -> None:
        self.config = replace(self.config, **changes)

    def completed(self, step: str) -> bool:
        config = self.config
        if step == "name":
            return bool(config.name)
        if step == "method":
            return bool(config.auth_method)
        if step == "credentials":
            if config.auth_method == Connector.AuthMethod.ASSUME_ROLE:
                return bool(config.role_arn)
            return bool(config.access_key_id and self.secret_token)
        if step == "history":
            return bool(config.history_days)
        return False

    def settings(self) -> ConnectorSettings:
        secret = crypto.decrypt(self.secret_token) if self.secret_token else ""
        return replace(self.config, secret_access_key=secret)

    def fingerprint(self) -> str:
        """Changes whenever anything the validation depends on changes."""
        config = self.config
        material = [
            config.auth_method,
            config.access_key_id,
            self.secret_token,
            config.role_arn,
            config.external_id,
            config.endpoint_url,
        ]
        return hashlib.sha256(json.dumps(material).encode()).hexdigest()

    def store_report(self, report: ValidationReport) -> None:
        self.report = report
        self.report_fingerprint = self.fingerprint()

    def current_report(self) -> ValidationReport | None:
        if self.report is None or self.report_fingerprint != self.fingerprint():
            return None
        return self.report


def _session_key(connector: Connector | None) -> str:
    return f"aws-wizard:{connector.pk if connector else 'new'}"


def _load(request, connector: Connector | None) -> Draft:
    stored = request.session.get(_session_key(connector))
    # A draft saved by an earlier release (flat fields, no "config") is dropped: the wizard starts again.
    if stored and "config" in stored:
        return Draft.from_session(stored)
    return Draft.for_connector(connector) if connector else Draft()


def _save(request, connector: Connector | None, draft: Draft) -> None:
    request.session[_session_key(connector)] = asdict(draft)


def _step_url(step: str, connector: Connector | None) -> str:
    if connector:
        return reverse("connectors:wizard_edit", args=[connector.pk, step])
    return reverse("connectors:wizard", args=[step])


def _context(request, step: str, draft: Draft, connector: Connector | None, **extra) -> dict:
    index = STEP_KEYS.index(step)
    steps = [
        {
            "key": key,
            "label": label,
            "url": _step_url(key, connector),
            "current": key == step,
            "done": draft.completed(key) and STEP_KEYS.index(key) < index,
            "reachable": all(draft.completed(k) for k in STEP_KEYS[: STEP_KEYS.index(key)]),
        }
        for key, label in STEPS
    ]
    return {
        "title": f"Edit {connector.name}" if connector else "Connect Amazon Web Services",
        "section": "Settings",
        "connector": connector,
        "draft": draft,
        "step": step,
        "steps": steps,
        "back_url": _step_url(STEP_KEYS[index - 1], connector) if index else reverse("connectors:apps"),
        "governance_policy": iam_policies.GOVERNANCE_POLICY_JSON,
        "read_only_policy": iam_policies.READ_ONLY_POLICY_JSON,
        "trust_policy": iam_policies.as_json(
            iam_policies.trust_policy_document(
                "arn:aws:iam::<portal account ID>:root", draft.config.external_id or "<external ID>"
            )
        ),
        **extra,
    }


@require_perm(Perm.ADMINISTER)
def connect_catalog(request):
    return render(
        request, "connectors/connect_catalog.html", {"title": "Connect an app", "section": "Settings"}
    )


# Error reports (the debug page, mailed reports) star the secret out of the request they show.
@sensitive_post_parameters("secret_access_key")
@require_perm(Perm.ADMINISTER)
def wizard(request, step: str, pk: int | None = None):
    connector = get_object_or_404(Connector, pk=pk) if pk else None
    if step not in STEP_KEYS:
        return redirect(_step_url("name", connector))
    if request.method == "GET" and "restart" in request.GET:
        request.session.pop(_session_key(connector), None)
        return redirect(_step_url("name", connector))
    draft = _load(request, connector)
    for earlier in STEP_KEYS[: STEP_KEYS.index(step)]:
        if not draft.completed(earlier):
            return redirect(_step_url(earlier, connector))
    handler = {
        "name": _name_step,
        "method": _method_step,
        "credentials": _credentials_step,
        "history": _history_step,
        "validate": _validate_step,
    }[step]
    return handler(request, draft, connector)


def _advance(request, draft: Draft, connector: Connector | None, step: str):
    _save(request, connector, draft)
    return redirect(_step_url(STEP_KEYS[STEP_KEYS.index(step) + 1], connector))


def _name_step(request, draft: Draft, connector):
    form = NameForm(request.POST or None, connector=connector, initial={"name": draft.config.name})
    if request.method == "POST" and form.is_valid():
        draft.update(name=form.cleaned_data["name"])
        return _advance(request, draft, connector, "name")
    return render(
        request, "connectors/wizard_step.html", _context(request, "name", draft, connector, form=form)
    )


def _method_step(request, draft: Draft, connector):
    form = MethodForm(
        request.POST or None, initial={"auth_method": draft.config.auth_method or "access_keys"}
    )
    if request.method == "POST" and form.is_valid():
        draft.update(auth_method=form.cleaned_data["auth_method"])
        if draft.config.auth_method == Connector.AuthMethod.ASSUME_ROLE and not draft.config.external_id:
            # AWS's advice against the confused deputy: an external ID the portal chooses.
            draft.update(external_id=secrets.token_hex(16))
        return _advance(request, draft, connector, "method")
    return render(
        request, "connectors/wizard_step.html", _context(request, "method", draft, connector, form=form)
    )


def _credentials_step(request, draft: Draft, connector):
    config = draft.config
    role = config.auth_method == Connector.AuthMethod.ASSUME_ROLE
    initial = {
        "access_key_id": config.access_key_id,
        "role_arn": config.role_arn,
        "all_regions": not config.regions,
        "regions": list(config.regions),
        "endpoint_url": config.endpoint_url,
    }
    data = request.POST if request.method == "POST" else None
    if role:
        form = RoleForm(data, initial=initial)
    else:
        form = AccessKeyForm(
            data, request.FILES or None, initial=initial, has_secret=bool(draft.secret_token)
        )
    if request.method == "POST" and form.is_valid() and (role or _key_accepted(form, draft)):
        cleaned = form.cleaned_data
        if role:
            draft.update(role_arn=cleaned["role_arn"])
        else:
            draft.update(access_key_id=cleaned["access_key_id"])
            if cleaned.get("secret_access_key"):
                draft.secret_token = crypto.encrypt(cleaned["secret_access_key"])
        draft.update(
            regions=() if cleaned["all_regions"] else tuple(cleaned["regions"]),
            endpoint_url=cleaned.get("endpoint_url", config.endpoint_url) or "",
        )
        return _advance(request, draft, connector, "credentials")
    return render(
        request,
        "connectors/wizard_step.html",
        _context(request, "credentials", draft, connector, form=form, multipart=not role),
    )


def _key_accepted(form: AccessKeyForm, draft: Draft) -> bool:
    """Ask AWS who the key belongs to before going on, so a wrong key is shown by its field."""
    secret = form.cleaned_data.get("secret_access_key") or (
        crypto.decrypt(draft.secret_token) if draft.secret_token else ""
    )
    credentials = AwsCredentials(access_key_id=form.cleaned_data["access_key_id"], secret_access_key=secret)
    failure = validation.check_identity(credentials, endpoint_url=form.cleaned_data.get("endpoint_url", ""))
    if failure is None:
        return True
    message = validation.explain(
        failure,
        permission="sts:GetCallerIdentity",
        endpoint=form.cleaned_data.get("endpoint_url", "") or aws.resolve_endpoint(None) or "",
    )
    if failure.code in {"SignatureDoesNotMatch", "InvalidSignatureException"}:
        form.add_error("secret_access_key", message)
    elif failure.kind in {ErrorKind.INVALID_CREDENTIALS, ErrorKind.EXPIRED}:
        form.add_error("access_key_id", message)
    else:
        form.add_error(None, message)
    return False


def _history_step(request, draft: Draft, connector):
    config = draft.config
    initial = {
        "history_days": config.history_days or Connector.HistoryDays.WEEK,
        "ingest_mode": config.ingest_mode,
        "trail_bucket": config.trail_bucket,
        "trail_prefix": config.trail_prefix,
    }
    form = HistoryForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        draft.update(
            history_days=form.cleaned_data["history_days"],
            ingest_mode=form.cleaned_data["ingest_mode"],
            trail_bucket=form.cleaned_data["trail_bucket"].strip(),
            trail_prefix=form.cleaned_data["trail_prefix"].strip(),
        )
        return _advance(request, draft, connector, "history")
    return render(
        request, "connectors/wizard_step.html", _context(request, "history", draft, connector, form=form)
    )


def _pending_report() -> list[Check]:
    return [
        Check("sts:GetCallerIdentity", "Identity"),
        *[Check(k, label) for k, label in PERMISSION_CHECKS],
        Check("s3:PutBucketAcl", "Change bucket ACLs (data governance)", required=False),
        Check("cloudtrail:trails", "CloudTrail logs all regions", required=False),
    ]


def _validate_step(request, draft: Draft, connector):
    report = draft.current_report()
    if request.method == "POST":
        if request.POST.get("action") == "validate" or report is None:
            report = services.connector_validate(config=draft.settings())
            draft.store_report(report)
            _save(request, connector, draft)
        if request.POST.get("action") == "connect" and report.ok:
            try:
                saved = services.connector_save(
                    config=draft.settings(), by=request.user, connector=connector, report=report
                )
            except ConnectorValidationError as error:
                report = error.report
            else:
                request.session.pop(_session_key(connector), None)
                messages.success(request, f"{saved.name} is connected.")
                return redirect("connectors:connected", saved.pk)
        if request.htmx:
            return render(
                request, "connectors/_validation_report.html", {"report": report, "checks": report.checks}
            )
    context = _context(
        request,
        "validate",
        draft,
        connector,
        report=report,
        pending=_pending_report() if report is None else None,
    )
    return render(request, "connectors/wizard_step.html", context)


@require_perm(Perm.ADMINISTER)
def connected(request, pk: int):
    connector = get_object_or_404(Connector, pk=pk)
    return render(
        request,
        "connectors/connected.html",
        {"title": connector.name, "section": "Settings", "connector": connector},
    )


@require_POST
@require_perm(Perm.ADMINISTER)
def wizard_cancel(request, pk: int | None = None):
    connector = get_object_or_404(Connector, pk=pk) if pk else None
    request.session.pop(_session_key(connector), None)
    return redirect("connectors:apps")
