import getpass
import os
import sys

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from defender import services
from defender.roles import Role


class Command(BaseCommand):
    help = "Create a portal user with a role (or, with --update, change an existing one)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--role",
            required=True,
            choices=Role.values,
            help="admin (Global administrator), operator (Security operator) or reader (Security reader)",
        )
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Defaults to $DEFENDER_PASSWORD, else asked for.")
        parser.add_argument(
            "--update",
            action="store_true",
            help="If the user exists, set its role and password instead of failing.",
        )

    def handle(self, *args, username, role, email, password, update, **options):
        password = password or os.environ.get("DEFENDER_PASSWORD") or self._ask_password()
        User = get_user_model()
        existing = User.objects.filter(username=username).first()
        if existing and not update:
            raise CommandError(f"User {username} already exists; pass --update to change it.")
        try:
            if existing:
                existing.set_password(password)
                if email:
                    existing.email = email
                existing.is_active = True
                existing.save()
                services.user_set_role(user=existing, role=role)
                verb = "Updated"
            else:
                services.user_create(username=username, role=role, password=password, email=email)
                verb = "Created"
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} as {Role(role).label}."))

    def _ask_password(self) -> str:
        if not sys.stdin.isatty():
            raise CommandError("No password: pass --password or set DEFENDER_PASSWORD.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords do not match.")
        return first
