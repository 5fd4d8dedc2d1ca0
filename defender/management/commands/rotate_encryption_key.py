from django.core.management.base import BaseCommand, CommandError

from defender.crypto import SecretUnreadable, rotate_tokens


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret (every EncryptedTextField of every model) with the newest key, "
        "the first of FIELD_ENCRYPTION_KEY's comma-separated keys. Run after putting a new key in front; "
        "afterwards the old keys can be removed."
    )

    def handle(self, *args, **options):
        try:
            counts = rotate_tokens()
        except SecretUnreadable as error:
            raise CommandError(str(error)) from error
        for label, count in counts.items():
            self.stdout.write(f"{label}: {count} re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"{sum(counts.values())} secrets now use the newest key."))
