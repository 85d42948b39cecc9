"""manage.py rebuild_rollups: recompute the overview's daily rollup from the ledger (or --check it)."""

import time

from django.core.management.base import BaseCommand, CommandError

from analytics.services import compare_with_ledger, rebuild_rollups

DIFFERS = 1


class Command(BaseCommand):
    help = (
        "Recompute every ledger-derived counter of the daily rollup behind the admin's engagement "
        "overview (active users, check-ins, retention, loyalty, tools) from the ledger, and set "
        "right the ones that differ; webhook delivery counts are kept. Safe while the app serves: "
        "it reads in one snapshot without locking, then corrects one counter at a time, and what "
        "changes commit meanwhile is neither lost nor counted twice. Run it once after upgrading "
        "to the version that added the rollup, and after loading rows around the services. "
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
        corrected = sum(report.corrected.values())
        detail = ", ".join(f"{metric} {n}" for metric, n in report.corrected.items())
        self.stdout.write(
            f"rollup rebuilt from the ledger in {seconds:.1f} s: {report.counters} counters, "
            f"{corrected} corrected" + (f" ({detail})" if detail else "")
        )

    def _check(self):
        expected, stored = compare_with_ledger()
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
