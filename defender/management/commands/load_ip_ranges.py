import json
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from defender.ipintel import services
from defender.models import IpRange

FIELDS = ("name", "cidrs", "category", "tags", "country", "city", "latitude", "longitude", "isp")


class Command(BaseCommand):
    help = (
        "Create or update IP address ranges from a JSON list of "
        '{"name", "cidrs", "category", "tags"} objects (optional: country, city, latitude, longitude, '
        "isp). Ranges are matched by name; each is validated like in the console."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help='JSON file: a list of ranges, or {"ranges": [...]}.')
        parser.add_argument(
            "--allow-overlap",
            action="store_true",
            help="Accept ranges that overlap others (the most specific range wins).",
        )

    def handle(self, *args, file, allow_overlap, **options):
        items = self._read(file)
        created = updated = 0
        failures = []
        for position, item in enumerate(items, start=1):
            label = item.get("name") if isinstance(item, dict) else None
            if not isinstance(item, dict) or not label:
                failures.append(f"item {position}: expected an object with a name")
                continue
            existing = IpRange.objects.filter(name__iexact=label).first()
            values = {key: item[key] for key in FIELDS if key in item}
            if existing:
                values = {key: getattr(existing, key) for key in FIELDS} | values
            try:
                services.iprange_save(iprange=existing, allow_overlap=allow_overlap, **values)
            except ValidationError as error:
                messages = (
                    [m for ms in error.message_dict.values() for m in ms]
                    if hasattr(error, "error_dict")
                    else error.messages
                )
                failures.append(f"{label}: {'; '.join(messages)}")
                continue
            if existing:
                updated += 1
            else:
                created += 1
        self.stdout.write(f"IP address ranges: {created} created, {updated} updated, {len(failures)} failed.")
        for failure in failures:
            self.stderr.write(f"  {failure}")
        if failures:
            raise CommandError(f"{len(failures)} range(s) were not loaded; see the messages above.")

    @staticmethod
    def _read(file: str) -> list:
        try:
            data = json.loads(Path(file).read_text())
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
        except json.JSONDecodeError as error:
            raise CommandError(f"{file} is not JSON: {error}") from None
        if isinstance(data, dict):
            data = data.get("ranges", data.get("ip_ranges"))
        if not isinstance(data, list):
            raise CommandError(f'{file} must hold a list of ranges, or {{"ranges": [...]}}.')
        return data
