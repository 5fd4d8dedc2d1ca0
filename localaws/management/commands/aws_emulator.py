import signal
import threading
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from localaws.emulator import EVENTS_PATH, Emulator

DEFAULT_PORT = 5000  # moto server's own default


class Command(BaseCommand):
    help = (
        "Run the local AWS emulator (moto with CloudTrail LookupEvents and AWS's throttling) until "
        "Ctrl-C. Tests and the demo point AWS_ENDPOINT_URL at the URL it prints."
    )
    # Nothing here touches the database or the portal's models.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to bind (default: loopback).")
        parser.add_argument(
            "--port",
            type=int,
            default=DEFAULT_PORT,
            help=f"Port (default {DEFAULT_PORT}; 0 = any free port).",
        )
        parser.add_argument(
            "--scenario",
            help="Scenario name or path to apply once the emulator is up (resources and events).",
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed of the scenario (default 1).")
        parser.add_argument(
            "--auth",
            action="store_true",
            help="Enforce IAM authentication and authorization (after the scenario has been applied).",
        )
        parser.add_argument(
            "--out",
            type=Path,
            help="Directory for the scenario's access-key CSV files (default: $VAR_DIR/localaws).",
        )

    def handle(self, *args, host, port, scenario, seed, auth, out, **options):
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
        emulator = Emulator(host=host, port=port, log_requests=options["verbosity"] >= 2)
        try:
            try:
                emulator.start()
            except OSError as error:
                raise CommandError(f"Cannot listen on {host}:{port}: {error}") from error
            if scenario:
                self._apply_scenario(emulator, scenario, seed, out or settings.VAR_DIR / "localaws")
            if auth:
                # Only now: the scenario's own setup calls are unauthenticated, like an account's owner.
                emulator.enable_auth()
                self._say("IAM authentication and authorization are enforced.")
            self._say(f"Local AWS emulator listening on {emulator.endpoint_url}")
            self._say(f"Append CloudTrail events: POST {emulator.endpoint_url}{EVENTS_PATH}  Ctrl-C stops.")
            # A timed wait keeps the main thread returning to the interpreter, where signal handlers run.
            while not stop.wait(0.5):
                pass
        finally:
            emulator.stop()
            emulator.disable_auth()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self._say("Local AWS emulator stopped.")

    def _apply_scenario(self, emulator: Emulator, name: str, seed: int, out_dir: Path) -> None:
        try:
            from localaws.scenario import apply_scenario, build_scenario
        except ImportError as error:
            raise CommandError(
                f"--scenario needs the scenario generator (localaws.scenario): {error}"
            ) from error
        self._say(f"Applying scenario {name} (seed {seed})...")
        out_dir.mkdir(parents=True, exist_ok=True)
        built = build_scenario(name, seed=seed)
        applied = apply_scenario(
            built, endpoint_url=emulator.endpoint_url, add_events=emulator.store.add, out_dir=out_dir
        )
        for line in applied.summary():
            self._say(f"  {line}")

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        # Scripts and tests read these lines through a pipe while the emulator keeps running.
        self.stdout.flush()
