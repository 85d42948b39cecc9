"""manage.py restore_streak: give a user back the streak lost at their latest reset, for free."""

from django.core.management.base import BaseCommand

from engagement.commands import UsageError, invalid_options, user_by_email
from engagement.errors import NothingToRepair
from progression.forms import RestoreStreakForm
from progression.services import restore_streak


class Command(BaseCommand):
    help = (
        "Restore the streak a user lost at their latest reset (streak = the lost streak + the "
        "current one), with no time limit and no cost, as an `adjustment` event with the note (the "
        'same service the admin\'s "restore streak" action calls). '
        "Exit status: 0 done, 2 unknown email, blank note or nothing to restore."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The user's email (any letter case).")
        parser.add_argument(
            "--note", required=True, help="Why; stored as the event's reference (at most 255 characters)."
        )

    def handle(self, *args, email, note, **options):
        form = RestoreStreakForm(data={"note": note})
        if not form.is_valid():
            raise invalid_options(form.errors, {})
        user = user_by_email(email)
        try:
            change = restore_streak(user=user, note=form.cleaned_data["note"])
        except NothingToRepair as exc:
            raise UsageError(f"{user.email}: {exc.message}") from exc
        event = change.events[0]
        self.stdout.write(
            f"{user.email} ({user.pk}): streak {change.before.streak} -> {change.after.streak} "
            f"(adjustment event #{event.pk}, note {event.reference!r})"
        )
