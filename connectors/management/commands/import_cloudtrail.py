import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from connectors.ingestion.normalize import iter_records
from connectors.ingestion.store import ConnectorDeleted, StoreResult, store_records
from connectors.models import Connector
from defender.ipintel.classify import IpClassifier

CHUNK = 5000


class Command(BaseCommand):
    help = (
        "Import exported CloudTrail logs (.json or .json.gz: a Records object, a JSON array or JSON lines) "
        "into a connector's activity. Safe to run again: events already stored are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--connector", required=True, help="Instance name of the connected app.")

    def handle(self, *args, files: list[Path], connector: str, **options):
        target = Connector.objects.filter(name=connector).first()
        if target is None:
            names = ", ".join(Connector.objects.values_list("name", flat=True)) or "none yet"
            raise CommandError(f"No connected app named {connector!r} (connected apps: {names}).")
        missing = [str(path) for path in files if not path.is_file()]
        if missing:
            raise CommandError(f"No such file: {', '.join(missing)}")
        classifier = IpClassifier.load()
        total = StoreResult()
        for path in files:
            with path.open("rb") as handle:
                chunk: list = []
                for record in iter_records(handle):
                    chunk.append(record)
                    if len(chunk) >= CHUNK:
                        total.merge(self._store(target, chunk, path, classifier))
                        self._progress(path, total)
                        chunk = []
                if chunk:
                    total.merge(self._store(target, chunk, path, classifier))
            self._progress(path, total, done=True)
        self.stdout.write(
            f"Read {total.read:,}, inserted {total.inserted:,}, duplicates {total.duplicates:,}, "
            f"rejected {total.rejected:,}."
        )
        if total.rejected:
            self.stdout.write("Rejected records are kept with their reason (admin: Rejected records).")

    @staticmethod
    def _store(connector, chunk, path, classifier) -> StoreResult:
        try:
            return store_records(connector=connector, records=chunk, source=str(path), classifier=classifier)
        except ConnectorDeleted as error:
            raise CommandError(f"{error} The import stopped.") from error

    def _progress(self, path: Path, total: StoreResult, done: bool = False) -> None:
        if sys.stderr.isatty() or done:
            end = "\n" if done else "\r"
            sys.stderr.write(f"{path.name}: {total.read:,} records read, {total.inserted:,} new{end}")
