"""The issue's done-when: across a worker SIGKILLed in the middle of an export and a new worker, the
SIEM listener receives exactly the alerts raised, each once, in order."""

import os
import signal
import time

import pytest

from siem import services
from siem.models import SiemCursor
from siem.services import DestinationSettings
from siem.tasks import export_destination_task
from tests.siem.listeners import SyslogListener, raise_alert, self_signed_certificate
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

QUEUE = "siem-restart-test"


def test_listener_receives_exactly_the_alerts_raised_across_a_worker_kill(celery_worker_env, tmp_path):
    certificate = self_signed_certificate(tmp_path)
    listener = SyslogListener("tls", certificate=certificate)
    destination = services.destination_save(
        config=DestinationSettings(
            name="SOC syslog",
            transport="syslog_tls",
            host="127.0.0.1",
            port=listener.port,
            tls_ca_pem=certificate.cert_pem,
        ),
        by=None,
    )
    env = {**celery_worker_env, "SIEM_CLAIM_SECONDS": "3"}

    def export() -> None:
        # What beat's fan-out does every 30 seconds, on this test's own queue.
        export_destination_task.apply_async((destination.pk,), queue=QUEUE)

    raised = []
    first = start_worker(env, tmp_path / "first.log", queues=QUEUE)
    try:
        raised += [raise_alert(i) for i in range(5)]
        export()
        listener.wait_for(5)
        cursor = SiemCursor.objects.get(destination=destination, stream="alerts")
        wait_for(lambda: SiemCursor.objects.get(pk=cursor.pk).position == raised[-1].pk)

        # The listener stalls the next connection's TLS handshake: the worker is caught holding the
        # destination's claim, with a batch read and not yet sent, when it is killed.
        listener.hold()
        raised += [raise_alert(i) for i in range(5, 10)]
        export()
        wait_for(lambda: listener.held == 1, timeout=30)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        stop_worker(first)
    assert SiemCursor.objects.get(pk=cursor.pk).position == raised[4].pk

    raised += [raise_alert(i) for i in range(10, 15)]  # while no worker runs
    listener.release()
    second = start_worker(env, tmp_path / "second.log", queues=QUEUE)
    try:
        deadline = time.monotonic() + 60
        while len(listener.messages) < 15 and time.monotonic() < deadline:
            export()
            time.sleep(1)
        # A few more runs find nothing left to send.
        for _ in range(3):
            export()
        wait_for(lambda: SiemCursor.objects.get(pk=cursor.pk).position == raised[-1].pk)
        time.sleep(2)
    finally:
        stop_worker(second)
        listener.close()

    received = [document["id"] for document in listener.documents()]
    assert received == [f"alert-{alert.pk}" for alert in raised]
    assert listener.partial_frames == 0
