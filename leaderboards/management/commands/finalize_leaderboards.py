"""manage.py finalize_leaderboards: finalize every board's last finished period (idempotent)."""

from django.core.management.base import BaseCommand

from leaderboards.services import finalize_leaderboards


class Command(BaseCommand):
    help = "Finalize the last finished period of every active board: results, prizes, webhook. Rerunnable."

    def handle(self, *args, **options):
        for done in finalize_leaderboards():
            if done.created:
                counts = f"{done.results} results, {done.prizes} prizes"
                self.stdout.write(f"{done.board} {done.period_start}: finalized, {counts}")
            else:
                self.stdout.write(f"{done.board} {done.period_start}: already finalized")
