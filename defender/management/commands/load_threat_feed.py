import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from defender.ipintel import services
from defender.models import ThreatFeed


class Command(BaseCommand):
    help = (
        "Load a threat feed from a file (one IP address or network per line, '#' comments, or CSV with "
        "the address first), creating the feed if it does not exist. For the demo and air-gapped installs."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="Feed name, e.g. 'Tor exit nodes'.")
        parser.add_argument("file", help="The list; '-' reads standard input.")
        parser.add_argument(
            "--kind",
            choices=ThreatFeed.Kind.values,
            help="Kind of list (default for a new feed: other). Its tag is always applied.",
        )
        parser.add_argument(
            "--tag", help="Tag shown on activities (default: the kind's, e.g. 'Tor exit node')."
        )

    def handle(self, *args, name, file, kind, tag, **options):
        data = sys.stdin.buffer.read() if file == "-" else self._read(file)
        feed = ThreatFeed.objects.filter(name__iexact=name).first()
        try:
            if feed is None or kind or tag:
                feed = services.feed_save(
                    feed=feed,
                    name=feed.name if feed else name,
                    kind=kind or (feed.kind if feed else ThreatFeed.Kind.OTHER),
                    tag=tag if tag is not None else (feed.tag if feed and not kind else ""),
                    url=feed.url if feed else "",
                    enabled=feed.enabled if feed else True,
                )
            result = services.feed_load(feed=feed, data=data)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except services.FeedError as error:
            raise CommandError(f"{feed.name}: {error}") from None
        self.stdout.write(f"{feed.name} ({feed.get_kind_display()}, tag '{feed.tag}'): {result.summary()}")

    @staticmethod
    def _read(file: str) -> bytes:
        try:
            return Path(file).read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror}") from None
