"""manage.py rebuild_rollups: recompute the overview's daily rollup from the ledger (or --check it)."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from analytics.services import ledger_counts, rebuild_rollups, rollup_counts

DIFFERS = 1


class Command(BaseCommand):
    help = (
        "Recompute every ledger-derived counter of the daily rollup behind the admin's engagement "
        "overview (active users, check-ins, retention, loyalty, tools) from the ledger, in one "
        "transaction; webhook delivery counts are kept. Safe while the app serves: changes that "
        "commit meanwhile wait for it and are counted. Run it once after upgrading to the version "
        "that added the rollup, and after loading rows around the services (bulk imports). "
        "With --check, change nothing: compare the rollup with the ledger. "
        "Exit status: 0 done (or equal), 1 with --check when they differ."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only compare the rollup with the ledger; exit 1 if they differ.",
        )

    def handle(self, *args, check, **options):
        started = time.perf_counter()
        if check:
            self._check()
            return
        report = rebuild_rollups()
        seconds = time.perf_counter() - started
        detail = (
            ", ".join(f"{metric} {rows}" for metric, rows in report.by_metric.items()) or "nothing to count"
        )
        self.stdout.write(
            f"rollup rebuilt from the ledger in {seconds:.1f} s: {report.rows} counters ({detail})"
        )

    def _check(self):
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:  # one snapshot for both reads
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            expected, stored = ledger_counts(), rollup_counts()
        differences = sorted(key for key in expected.keys() | stored.keys() if expected[key] != stored[key])
        if not differences:
            self.stdout.write(self.style.SUCCESS(f"rollup OK: {len(expected)} counters match the ledger"))
            return
        for metric, day, subgroup in differences[:50]:
            key = (metric, day, subgroup)
            label = f"{metric}[{subgroup}]" if subgroup else metric
            self.stderr.write(f"  - {label} on {day}: ledger {expected[key]}, rollup {stored[key]}")
        raise CommandError(
            f"rollup differs from the ledger in {len(differences)} counters; "
            "manage.py rebuild_rollups recomputes them",
            returncode=DIFFERS,
        )
