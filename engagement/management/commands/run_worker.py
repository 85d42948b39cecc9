"""manage.py run_worker: the job queue's worker (django-q2's qcluster), the stable entry point."""

from django.core.management import call_command
from django.core.management.base import BaseCommand

from engagement.queue import sync_schedules, use_plain_connections


class Command(BaseCommand):
    help = (
        "Run the job queue worker: webhook fan-out and deliveries, and the periodic jobs of "
        "settings.ENGAGEMENT_PERIODIC_JOBS (written into the queue's schedule on start). Runs "
        "WORKER_PROCESSES processes; start as many workers on as many hosts as needed. "
        "SIGTERM or Ctrl-C stops it after the jobs in progress."
    )

    def handle(self, *args, **options):
        use_plain_connections()
        schedules = sync_schedules()
        self.stdout.write(
            "Periodic jobs: "
            + "; ".join(f"{s.name} (next {s.next_run:%Y-%m-%d %H:%M} UTC)" for s in schedules)
        )
        call_command("qcluster")
