"""manage.py seed_catalog: upsert the seeded tools, rewards and leaderboards (idempotent)."""

from django.core.management.base import BaseCommand

from inventory.services import seed_tools
from leaderboards.services import seed_boards
from rewards.services import seed_rewards


class Command(BaseCommand):
    help = "Create or update the seeded tools, rewards and leaderboards. Running it twice changes nothing."

    def handle(self, *args, **options):
        for label, report in (
            ("tools", seed_tools()),
            ("rewards", seed_rewards()),
            ("leaderboards", seed_boards()),
        ):
            self.stdout.write(
                f"{label}: {len(report.created)} created, {len(report.updated)} updated, "
                f"{len(report.unchanged)} unchanged"
            )
