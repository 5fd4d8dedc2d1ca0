import os
import secrets
import sys
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from connectors.credentials_csv import parse_access_key_csv
from connectors.entra import GraphError
from connectors.entra_sync import (
    EntraConnectionError,
    EntraSettings,
    entra_connection_save,
    identity_provider_sync,
)
from connectors.models import Connector
from connectors.services import ConnectorSettings, ConnectorValidationError, connector_save
from defender import services
from defender.supervisor import Supervisor

DEMO_ADMIN = "admin"
DEMO_CONNECTOR = "Demo AWS account"
EMULATOR_PORT = 4566
GRAPH_PORT = 4567
# The demo's Entra ID tenant and app registration, served by the fake Graph (localaws/graph.py).
DEMO_TENANT_ID = "6d2f3e1a-4b7c-4f0e-9a51-0c8d2b7e4f10"
DEMO_CLIENT_ID = "b1a7c9e2-3f4d-4e8a-8c6b-5d0e1f2a3b4c"


class Command(BaseCommand):
    help = (
        "Run the product on the embedded default with a simulated AWS account (make demo): the local AWS "
        "emulator with the demo scenario, a fake Microsoft Graph as the Entra ID tenant, web, Celery "
        "worker and beat."
    )

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--emulator-port", type=int, default=EMULATOR_PORT)
        parser.add_argument("--graph-port", type=int, default=GRAPH_PORT)

    def handle(self, *args, bind, emulator_port, graph_port, **options):
        password = self._demo_admin_password()
        self._ensure_demo_admin(password)
        python = sys.executable
        endpoint = f"http://127.0.0.1:{emulator_port}"
        out_dir = settings.VAR_DIR / "localaws"
        supervisor = Supervisor(env={"AWS_ENDPOINT_URL": endpoint, "PYTHONUNBUFFERED": "1"})
        self.stdout.write("Starting the local AWS emulator with the demo scenario (about a minute)...")
        try:
            supervisor.start(
                "aws",
                [
                    python,
                    "manage.py",
                    "aws_emulator",
                    "--port",
                    str(emulator_port),
                    "--scenario",
                    "demo",
                    "--auth",
                    "--out",
                    str(out_dir),
                ],
                ready_line="Local AWS emulator listening",
            )
        except RuntimeError as error:
            raise CommandError(str(error)) from error
        settings.AWS_ENDPOINT_URL = endpoint
        self._load_reference_data(out_dir)
        self._connect_entra_id(supervisor, out_dir, graph_port)
        self._connect_demo_account(out_dir)
        supervisor.start("web", [python, "manage.py", "runserver", bind, "--noreload"])
        supervisor.start(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "defender",
                "worker",
                "--loglevel",
                "INFO",
                "-Q",
                "ingest,detect,governance,default",
                "--concurrency",
                "2",
            ],
        )
        supervisor.start("beat", [python, "-m", "celery", "-A", "defender", "beat", "--loglevel", "INFO"])
        wizard_csv = self._csv(out_dir, "defender-wizard")
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDefender for AWS demo\n  URL:        http://{bind}/\n  User name:  {DEMO_ADMIN}\n"
                f"  Password:   {password}\n  Local AWS:  {endpoint}\n"
                f"  Entra ID:   tenant {DEMO_TENANT_ID} on http://127.0.0.1:{graph_port} (fake Graph)\n"
                f"  Try the connect wizard with the access key in {wizard_csv}\nPress Ctrl-C to stop.\n"
            )
        )
        sys.exit(supervisor.wait())

    def _csv(self, out_dir: Path, user: str) -> Path:
        matches = sorted(out_dir.glob(f"*{user}*.csv"))
        if not matches:
            raise CommandError(f"The emulator wrote no access-key CSV for {user} in {out_dir}.")
        return matches[0]

    def _load_reference_data(self, out_dir: Path) -> None:
        """The scenario's IP ranges and threat feeds, as an administrator would load them."""
        files = out_dir / "files"
        call_command("aws_scenario", "demo", "--out", str(files), verbosity=0)
        call_command("load_ip_ranges", str(files / "ip_ranges.json"), verbosity=0)
        call_command(
            "load_threat_feed",
            "Tor exit nodes",
            str(files / "threat_feed_tor.txt"),
            "--kind",
            "tor_exit_nodes",
            "--tag",
            "Tor exit node",
            verbosity=0,
        )
        call_command(
            "load_threat_feed",
            "Botnet and scanners",
            str(files / "threat_feed_botnet.txt"),
            "--kind",
            "botnet",
            "--tag",
            "Botnet",
            verbosity=0,
        )

    def _connect_entra_id(self, supervisor: Supervisor, out_dir: Path, port: int) -> None:
        """The scenario's people as an Entra ID tenant (the fake Graph, its leaver a deleted user),
        connected as in Settings > Identity provider and synced once before any history is
        imported, so anomaly_terminated_user knows who has left from the first batch on."""
        python, secret = sys.executable, secrets.token_urlsafe(24)
        supervisor.start(
            "graph",
            [
                python,
                "-m",
                "localaws.graph",
                "--port",
                str(port),
                "--tenant-id",
                DEMO_TENANT_ID,
                "--client-id",
                DEMO_CLIENT_ID,
                "--client-secret",
                secret,
                "--directory",
                str(out_dir / "files" / "directory.csv"),
            ],
            ready_line="Fake Microsoft Graph listening",
            timeout=60,
        )
        address = f"http://127.0.0.1:{port}"
        config = EntraSettings(
            tenant_id=DEMO_TENANT_ID,
            client_id=DEMO_CLIENT_ID,
            client_secret=secret,
            graph_base_url=f"{address}/v1.0",
            login_base_url=address,
        )
        admin = get_user_model().objects.get(username=DEMO_ADMIN)
        try:
            entra_connection_save(config=config, by=admin)
            counts = identity_provider_sync()
        except (EntraConnectionError, GraphError) as error:
            raise CommandError(f"Could not connect the demo Entra ID tenant: {error}") from error
        synced = f": {counts.seen} users synced" if counts else ""
        self.stdout.write(f"Connected Entra ID tenant {DEMO_TENANT_ID}{synced}.")

    def _connect_demo_account(self, out_dir: Path) -> None:
        """Through the same service as the wizard; the emulator's keys are new on every start."""
        key_id, secret = parse_access_key_csv(self._csv(out_dir, "defender-connector").read_bytes())
        config = ConnectorSettings(
            name=DEMO_CONNECTOR,
            access_key_id=key_id,
            secret_access_key=secret,
            regions=("us-east-1", "eu-west-1", "ap-southeast-2"),
            history_days=Connector.HistoryDays.MONTH,
        )
        admin = get_user_model().objects.get(username=DEMO_ADMIN)
        existing = Connector.objects.filter(name=DEMO_CONNECTOR).first()
        try:
            connector_save(config=config, by=admin, connector=existing)
        except ConnectorValidationError as error:
            raise CommandError(f"Could not connect the demo account: {error.report.summary()}") from error
        self.stdout.write(f"Connected {DEMO_CONNECTOR}: importing its history.")

    def _demo_admin_password(self) -> str:
        if os.environ.get("DEMO_ADMIN_PASSWORD"):
            return os.environ["DEMO_ADMIN_PASSWORD"]
        path = settings.VAR_DIR / "demo_admin_password"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(12) + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def _ensure_demo_admin(self, password: str) -> None:
        user = get_user_model().objects.filter(username=DEMO_ADMIN).first()
        if user is None:
            user = services.user_create(
                username=DEMO_ADMIN,
                role="admin",
                password=password,
                email="admin@example.com",
                first_name="Demo",
                last_name="Admin",
            )
        else:
            user.set_password(password)
            user.is_active = True
            user.save()
            services.user_set_role(user=user, role="admin")
        user.is_staff = user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
