"""manage.py purge_idempotency_keys: delete Idempotency-Key records older than the TTL (24 h)."""

from django.core.management.base import BaseCommand

from engagement.idempotency import purge_expired


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than 24 hours. Safe to run any time (cron)."

    def handle(self, *args, **options):
        self.stdout.write(f"purged {purge_expired()} expired idempotency keys")
