"""Writes of the governance log. A run is created ``pending`` (by a person, the API or a policy) and
sent to the ``governance`` queue after commit; ``run_execute`` claims it with a conditional update,
so however often its task is delivered and however many workers there are, it executes once.
Transient failures go back to ``pending`` and are retried with backoff; permanent ones fail at once.
A run whose worker died during the action fails (``runs_fail_stuck``): it is never executed twice."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import Alert, AlertEvent
from connectors.buckets import bucket_rescan
from connectors.ingestion.errors import TransientAwsError
from connectors.models import Connector
from governance.actions.base import ActionContext, ActionError
from governance.actions.registry import get_action
from governance.models import GovernanceRun
from governance.selectors import alert_targets

logger = logging.getLogger(__name__)

EXECUTE_TASK = "governance.execute_run"
REVERT_TASK = "governance.revert_run"
MAX_BACKOFF_SECONDS = 600


class RetryLater(Exception):
    """A transient failure: the task should run again after ``countdown`` seconds."""

    def __init__(self, countdown: int) -> None:
        super().__init__(f"retry in {countdown} s")
        self.countdown = countdown


def backoff(attempts: int) -> int:
    return min(settings.GOVERNANCE_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS)


def _send(task: str, run_id: int) -> None:
    transaction.on_commit(lambda: current_app.send_task(task, args=[run_id]))


def _record(run: GovernanceRun, message: str, by: AbstractBaseUser | None = None) -> None:
    """The run on its alert's history."""
    if run.alert_id is not None:
        AlertEvent.objects.create(
            alert_id=run.alert_id,
            kind=AlertEvent.Kind.GOVERNANCE,
            actor=by,
            message=message,
            data={"run": run.pk, "action": run.action, "target": run.target, "status": run.status},
        )


def _label(run: GovernanceRun) -> str:
    action = get_action(run.action)
    return f"{action.label if action else run.action} on {run.target}"


# --------------------------------------------------------------------------------------------------
# Create


def blocked_reason(*, action_key: str, connector: Connector) -> str:
    """Why ``connector`` cannot run the action, or "": bucket actions need data governance (the
    connector's credentials hold s3:PutBucketAcl), every action an enabled connector."""
    if connector.status == Connector.Status.DISABLED:
        return f"{connector.name} is disabled: enable it before running governance actions."
    action = get_action(action_key)
    if action and action.target_type == GovernanceRun.TargetType.BUCKET and not connector.governance_enabled:
        reason = connector.governance_reason or "s3:PutBucketAcl is not granted."
        return f"Data governance is disabled for {connector.name}: {reason}"
    return ""


def run_create(
    *,
    action_key: str,
    connector: Connector,
    target: str,
    parameters: dict[str, Any] | None = None,
    alert: Alert | None = None,
    by: AbstractBaseUser | None = None,
    policy=None,
) -> GovernanceRun:
    """A pending run of ``action_key`` on ``target`` (a bucket name, or an IAM user ARN or name) in
    ``connector``'s account, sent to the governance queue once committed. Raises ValidationError when
    the action is unknown, the parameters are wrong, or the account does not allow data governance."""
    action = get_action(action_key)
    if action is None:
        raise ValidationError(f"There is no governance action {action_key!r}.")
    target = (target or "").strip()
    if not target:
        raise ValidationError("Name the bucket or user to act on.")
    blocked = blocked_reason(action_key=action.key, connector=connector)
    if blocked:
        raise ValidationError(blocked)
    try:
        cleaned = action.clean_parameters(parameters or {})
    except ValueError as error:
        raise ValidationError(str(error)) from error
    with transaction.atomic():
        run = GovernanceRun.objects.create(
            action=action.key,
            target_type=action.target_type,
            target=target[:512],
            connector=connector,
            parameters=cleaned,
            alert=alert,
            policy=policy,
            triggered_by=by,
        )
        if policy is not None:
            _record(run, f"ran {_label(run)} automatically (policy {policy.name}).")
        else:
            _record(run, f"ran {_label(run)}.", by)
        _send(EXECUTE_TASK, run.pk)
    return run


def runs_create_for_alert(*, alert_id: int) -> list[GovernanceRun]:
    """The automatic runs of an alert's policy: each of its actions on each fitting target (the
    alert's user for user actions, its buckets for bucket actions). Safe to run twice."""
    alert = Alert.objects.select_related("policy", "connector").filter(pk=alert_id).first()
    if alert is None or alert.policy is None or alert.connector is None:
        return []
    policy = alert.policy
    if not (policy.governance_automatic and policy.governance_actions):
        return []
    targets = alert_targets(alert=alert)
    runs = []
    for key in policy.governance_actions:
        action = get_action(key)
        if action is None:
            continue
        for target in targets.get(action.target_type, ()):
            if GovernanceRun.objects.filter(alert=alert, action=key, target=target, policy=policy).exists():
                continue
            try:
                runs.append(
                    run_create(
                        action_key=key, connector=alert.connector, target=target, alert=alert, policy=policy
                    )
                )
            except IntegrityError:  # created meanwhile by another delivery of the same trigger
                continue
            except ValidationError as error:
                logger.warning("Automatic governance %s on %s skipped: %s", key, target, error.messages[0])
    return runs


# --------------------------------------------------------------------------------------------------
# Execute


def run_execute(*, run_id: int) -> GovernanceRun | None:
    """Claim the pending run and do it. None when another delivery already claimed it. Raises
    RetryLater after a transient failure with attempts left (the run is pending again)."""
    claimed = GovernanceRun.objects.filter(pk=run_id, status=GovernanceRun.Status.PENDING).update(
        status=GovernanceRun.Status.RUNNING, started_at=timezone.now(), attempts=F("attempts") + 1
    )
    if claimed != 1:
        return None
    run = GovernanceRun.objects.select_related("connector", "alert").get(pk=run_id)
    context = None
    try:
        action = get_action(run.action)
        if action is None:
            raise ActionError(f"No governance action is registered as {run.action!r}.", permanent=True)
        if run.connector is None:
            raise ActionError("The connected account was deleted.", permanent=True)
        context = ActionContext(
            connector=run.connector, target=run.target, parameters=run.parameters, alert=run.alert
        )
        outcome = action.execute(context)
    except ActionError as error:
        request_id = context.request_ids[-1] if context and context.request_ids else ""
        if not error.permanent and run.attempts < settings.GOVERNANCE_MAX_ATTEMPTS:
            _finish(run, GovernanceRun.Status.PENDING, error=error.message, request_id=request_id)
            raise RetryLater(backoff(run.attempts)) from error
        message = error.message
        if not error.permanent:
            message += f" Gave up after {run.attempts} attempts."
        with transaction.atomic():
            _finish(run, GovernanceRun.Status.FAILED, error=message, request_id=request_id)
            _record(run, f"reports that {_label(run)} failed: {message}")
        return run
    except Exception as error:  # a defect: fail the run with the reason rather than leave it running
        logger.exception("Governance run %s failed unexpectedly", run.pk)
        with transaction.atomic():
            _finish(run, GovernanceRun.Status.FAILED, error=f"Unexpected error: {error!r}")
            _record(run, f"reports that {_label(run)} failed: unexpected error.")
        return run
    with transaction.atomic():
        _finish(
            run,
            GovernanceRun.Status.SUCCEEDED,
            summary=outcome.summary,
            state=outcome.state,
            request_id=outcome.request_id or (context.request_ids[-1] if context.request_ids else ""),
        )
        _record(run, f"reports that {_label(run)} succeeded. {outcome.summary}")
    _refresh_inventory(run)
    return run


def _refresh_inventory(run: GovernanceRun) -> None:
    """Re-read the bucket a run changed, so that the Files page shows its new access at once rather
    than at the next hourly scan. The run's outcome is committed already: a failed read only waits for
    that scan."""
    if run.target_type != GovernanceRun.TargetType.BUCKET or run.connector_id is None:
        return
    try:
        bucket_rescan(connector_id=run.connector_id, name=run.target)
    except TransientAwsError as error:
        logger.warning("Bucket %s not re-read after governance run %s: %s", run.target, run.pk, error)


def _finish(run: GovernanceRun, status: str, **fields) -> None:
    now = timezone.now()
    values = {"status": status, "error": "", **fields}
    if status != GovernanceRun.Status.PENDING:
        values["finished_at"] = now
    values["request_id"] = values.get("request_id", "")[:200]
    # Only the claim's holder writes the outcome: a run the janitor gave back meanwhile is left alone.
    GovernanceRun.objects.filter(pk=run.pk, status=GovernanceRun.Status.RUNNING).update(**values)
    for name, value in values.items():
        setattr(run, name, value)


STUCK_MESSAGE = (
    "The worker running it stopped before recording the outcome: the action may have taken effect. "
    "Check the target, then retry if needed."
)


def runs_fail_stuck(*, now=None) -> int:
    """Fail the runs left ``running`` longer than GOVERNANCE_STUCK_SECONDS: their worker died during
    the action, which may or may not have reached AWS. Running it again could do it twice (and record
    the already-changed state as the one to revert to), so a person checks and retries instead."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.GOVERNANCE_STUCK_SECONDS)
    stuck = GovernanceRun.objects.filter(status=GovernanceRun.Status.RUNNING, started_at__lt=cutoff)
    failed = 0
    for run in stuck.select_related("connector", "alert"):
        with transaction.atomic():
            if (
                GovernanceRun.objects.filter(
                    pk=run.pk, status=GovernanceRun.Status.RUNNING, started_at__lt=cutoff
                ).update(status=GovernanceRun.Status.FAILED, error=STUCK_MESSAGE, finished_at=timezone.now())
                == 1
            ):
                failed += 1
                run.status = GovernanceRun.Status.FAILED
                _record(run, f"reports that {_label(run)} failed: {STUCK_MESSAGE}")
    return failed


# --------------------------------------------------------------------------------------------------
# Retry and revert


def run_retry(*, run: GovernanceRun, by: AbstractBaseUser) -> GovernanceRun:
    """Queue a failed run again, with a fresh budget of attempts."""
    with transaction.atomic():
        if (
            GovernanceRun.objects.filter(pk=run.pk, status=GovernanceRun.Status.FAILED).update(
                status=GovernanceRun.Status.PENDING, attempts=0, error="", finished_at=None
            )
            != 1
        ):
            raise ValidationError("Only a failed run can be retried.")
        run.refresh_from_db()
        _record(run, f"retried {_label(run)}.", by)
        _send(EXECUTE_TASK, run.pk)
    return run


def can_revert(run: GovernanceRun) -> bool:
    action = get_action(run.action)
    return (
        action is not None
        and run.status == GovernanceRun.Status.SUCCEEDED
        and run.revert_requested_at is None
        and action.can_revert(run.state)
    )


def run_request_revert(*, run: GovernanceRun, by: AbstractBaseUser) -> GovernanceRun:
    """Queue the revert of a succeeded, revertible run."""
    if not can_revert(run):
        raise ValidationError("Only a succeeded run of a revertible action can be reverted.")
    with transaction.atomic():
        if (
            GovernanceRun.objects.filter(
                pk=run.pk, status=GovernanceRun.Status.SUCCEEDED, revert_requested_at__isnull=True
            ).update(revert_requested_at=timezone.now(), reverted_by=by, error="")
            != 1
        ):
            raise ValidationError("This run is already being reverted.")
        run.refresh_from_db()
        _record(run, f"asked to revert {_label(run)}.", by)
        _send(REVERT_TASK, run.pk)
    return run


def run_revert(*, run_id: int, attempt: int = 1) -> GovernanceRun | None:
    """Undo a run whose revert was requested, holding its row so that it is undone once. Raises
    RetryLater after a transient failure while attempts are left (GOVERNANCE_MAX_ATTEMPTS)."""
    with transaction.atomic():
        run = (
            GovernanceRun.objects.select_for_update(of=("self",))
            .filter(pk=run_id, status=GovernanceRun.Status.SUCCEEDED, revert_requested_at__isnull=False)
            .select_related("connector")
            .first()
        )
        if run is None:
            return None
        action = get_action(run.action)
        try:
            if action is None or run.connector is None:
                raise ActionError("The action or the connected account no longer exists.", permanent=True)
            context = ActionContext(connector=run.connector, target=run.target, parameters=run.parameters)
            outcome = action.revert(context, run.state)
        except ActionError as error:
            if not error.permanent and attempt < settings.GOVERNANCE_MAX_ATTEMPTS:
                raise RetryLater(backoff(attempt)) from error
            run.revert_requested_at, run.reverted_by = None, None
            run.error = f"Revert failed: {error.message}"
            run.save(update_fields=["revert_requested_at", "reverted_by", "error"])
            _record(run, f"could not revert {_label(run)}: {error.message}")
            return run
        run.status, run.reverted_at = GovernanceRun.Status.REVERTED, timezone.now()
        run.summary = f"{run.summary} Reverted: {outcome.summary}".strip()
        run.save(update_fields=["status", "reverted_at", "summary"])
        _record(run, f"reverted {_label(run)}. {outcome.summary}")
    _refresh_inventory(run)
    return run
