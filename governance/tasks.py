"""Governance tasks, on the ``governance`` queue (routed by the "governance.*" names)."""

from celery import shared_task

from governance import services


@shared_task(name="governance.execute_run", bind=True, acks_late=True, max_retries=None)
def execute_run_task(self, run_id: int) -> None:
    # Attempts are counted on the run itself, which decides when a transient failure is final.
    try:
        services.run_execute(run_id=run_id)
    except services.RetryLater as later:
        raise self.retry(countdown=later.countdown) from later


@shared_task(name="governance.revert_run", bind=True, acks_late=True, max_retries=None)
def revert_run_task(self, run_id: int) -> None:
    try:
        services.run_revert(run_id=run_id, attempt=self.request.retries + 1)
    except services.RetryLater as later:
        raise self.retry(countdown=later.countdown) from later


@shared_task(name="governance.run_for_alert", acks_late=True)
def run_for_alert_task(alert_id: int) -> None:
    services.runs_create_for_alert(alert_id=alert_id)


# The name predates what the janitor does now; beat's stored schedule refers to it.
@shared_task(name="governance.requeue_stuck", acks_late=True)
def fail_stuck_task() -> None:
    services.runs_fail_stuck()
