"""Detection throughput on one core, as a worker runs it: the scale scenario's activities stored in
PostgreSQL, then ``policies.detection.detect`` over them in the batches ingestion hands over
(DETECTION_CHUNK), with every built-in policy enabled: the activity templates (repeated windows read
from the database) and all eleven anomaly detectors with their state in PostgreSQL. Prints figures;
asserts nothing.

BENCH_DETECT_EVENTS sets the size (default 200,000).
"""

import os
import time
from datetime import UTC, datetime

from _common import report
from _stack import enable_every_policy

from connectors.ingestion.store import DETECTION_CHUNK, store_records
from connectors.models import Activity, Connector
from defender.ipintel.classify import IpClassifier
from localaws.scenario import build_scenario
from policies.detection import detect, detection_policies
from policies.models import DetectorState, Policy

EVENTS = int(os.environ.get("BENCH_DETECT_EVENTS", "200000"))
STORE_CHUNK = 5000


def store(connector: Connector) -> list[int]:
    classifier = IpClassifier.load()
    ids: list[int] = []
    chunk: list[dict] = []
    for record in build_scenario("scale", events=EVENTS, end=datetime.now(UTC)).iter_events():
        chunk.append(record)
        if len(chunk) >= STORE_CHUNK:
            ids += store_records(
                connector=connector, records=chunk, source="bench", classifier=classifier
            ).new_ids
            chunk = []
    if chunk:
        ids += store_records(
            connector=connector, records=chunk, source="bench", classifier=classifier
        ).new_ids
    return ids


def main() -> None:
    connector, _ = Connector.objects.get_or_create(
        name="Benchmark detection",
        defaults={"status": Connector.Status.CONNECTED, "account_id": "123456789012"},
    )
    Activity.objects.filter(connector=connector).delete()
    DetectorState.objects.all().delete()
    enable_every_policy()
    ids = sorted(store(connector))
    policies = detection_policies()
    found = 0
    started = time.perf_counter()
    cpu_started = time.process_time()
    for offset in range(0, len(ids), DETECTION_CHUNK):
        found += len(detect(activity_ids=ids[offset : offset + DETECTION_CHUNK]))
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    report(
        "detect",
        {
            "activities": len(ids),
            "batch": DETECTION_CHUNK,
            "activity_policies": sum(p.type == Policy.Type.ACTIVITY for p in policies),
            "anomaly_detectors": sum(p.type == Policy.Type.ANOMALY for p in policies),
            "findings": found,
            "seconds": round(seconds, 2),
            "activities_per_second": round(len(ids) / seconds),
            "activities_per_cpu_second": round(len(ids) / cpu_seconds),
            "target_activities_per_second": 20000,
        },
    )


if __name__ == "__main__":
    main()
