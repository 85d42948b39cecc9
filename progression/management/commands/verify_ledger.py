"""manage.py verify_ledger: replay every user's events and compare with the stored state."""

from django.core.management.base import BaseCommand

from accounts.models import User
from progression.ledger import verify_ledger
from progression.services import get_rules


class Command(BaseCommand):
    help = (
        "Replay every user's ledger from the starting state and compare it with the stored "
        "state and inventory. Exit 0 when all match, 1 with a per-user report otherwise."
    )

    def handle(self, *args, **options):
        report = verify_ledger(get_rules())
        if report.ok:
            self.stdout.write(f"ledger OK: {report.users} users, {report.events} events verified")
            return
        emails = dict(
            User.objects.filter(pk__in=[m.user_id for m in report.mismatches]).values_list("pk", "email")
        )
        for mismatch in report.mismatches:
            self.stderr.write(f"MISMATCH user {emails.get(mismatch.user_id, '?')} ({mismatch.user_id}):")
            for problem in mismatch.problems:
                self.stderr.write(f"  - {problem}")
        self.stderr.write(
            f"ledger MISMATCH: {len(report.mismatches)} of {report.users} users differ "
            f"({report.events} events read)"
        )
        raise SystemExit(1)
