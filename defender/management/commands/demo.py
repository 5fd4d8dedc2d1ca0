import os
import secrets
import sys

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from defender import services
from defender.supervisor import Process, run_all

DEMO_ADMIN = "admin"


class Command(BaseCommand):
    help = "Run the product on the embedded default: web, Celery worker and beat (make demo)."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000")

    def handle(self, *args, bind, **options):
        password = self._demo_admin_password()
        self._ensure_demo_admin(password)
        python = sys.executable
        processes = [
            Process("web", [python, "manage.py", "runserver", bind, "--noreload"]),
            Process(
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
            ),
            Process("beat", [python, "-m", "celery", "-A", "defender", "beat", "--loglevel", "INFO"]),
        ]
        self.stdout.write(
            self.style.SUCCESS(
                f"\nDefender for AWS demo\n  URL:       http://{bind}/\n  User name: {DEMO_ADMIN}\n"
                f"  Password:  {password}\nPress Ctrl-C to stop.\n"
            )
        )
        sys.exit(run_all(processes))

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
