"""manage.py rebuild_leaderboards: rebuild the Redis rank cache from the entries in PostgreSQL."""

from django.core.management.base import BaseCommand, CommandError

from leaderboards import ranks
from leaderboards.services import rebuild_rank_caches


class Command(BaseCommand):
    help = "Rebuild the rank cache (Redis) of every active board's current and previous period."

    def add_arguments(self, parser):
        parser.add_argument("--missing", action="store_true", help="only the sets that are not ready")

    def handle(self, *args, **options):
        if ranks.client() is None:
            raise CommandError(
                "The rank cache needs Redis: set REDIS_URL (ranks are counted in PostgreSQL without it)."
            )
        for slug, start, count in rebuild_rank_caches(only_missing=options["missing"]):
            self.stdout.write(f"{slug} {start}: {count} ranked")
