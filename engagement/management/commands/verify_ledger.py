"""manage.py verify_ledger: replay every user's events and compare with the stored state."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from accounts.models import User
from engagement.audit import verify_ledger

MISMATCH = 1


class Command(BaseCommand):
    help = (
        "Replay every user's ledger (StateEvent rows, oldest first) from the starting state and "
        "compare the result with the stored state and the inventory held. Read-only. "
        "Exit status: 0 when every user matches; 1 when any differs, with each such user named "
        "(email and id) and each difference listed on stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-problems",
            type=int,
            default=20,
            help="Differences listed per user (default: %(default)s; 0 lists all).",
        )

    def handle(self, *args, max_problems, **options):
        outermost = not connection.in_atomic_block
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                # One snapshot for the three streams, so a change committed mid-run is
                # either wholly seen or not at all (no false mismatch on a live database).
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            report = verify_ledger()
        if report.ok:
            if options["verbosity"] > 0:
                self.stdout.write(
                    self.style.SUCCESS(f"ledger OK: {report.users} users, {report.events} events verified")
                )
            return
        emails: dict[object, str] = dict(
            User.objects.filter(pk__in=[m.user_id for m in report.mismatches]).values_list("pk", "email")
        )
        for mismatch in report.mismatches:
            email = emails.get(mismatch.user_id, "(no such user)")
            self.stderr.write(f"MISMATCH user {email} ({mismatch.user_id}):")
            shown = mismatch.problems[:max_problems] if max_problems > 0 else mismatch.problems
            for problem in shown:
                self.stderr.write(f"  - {problem}")
            if len(shown) < len(mismatch.problems):
                self.stderr.write(f"  ... and {len(mismatch.problems) - len(shown)} more")
        raise CommandError(
            f"ledger MISMATCH: {len(report.mismatches)} of {report.users} users differ "
            f"({report.events} events read)",
            returncode=MISMATCH,
        )
