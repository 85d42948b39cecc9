"""manage.py grant_loyalty: add (or take) a user's loyalty points as a ledgered adjustment."""

from django.core.management.base import BaseCommand

from engagement.commands import UsageError, invalid_options, user_by_email
from progression.forms import MAX_LOYALTY_ADJUSTMENT, AdjustStateForm
from progression.services import adjust_state


class Command(BaseCommand):
    help = (
        "Grant loyalty points to one user, as an `adjustment` event in the user's ledger (the same "
        'service the admin\'s "adjust state" action calls: the state row is locked, the ledger '
        "records the change and the note). A negative amount takes points away; loyalty never goes "
        "below 0. Rewards whose condition now holds unlock as after any change. "
        "Exit status: 0 done, 2 unknown email or invalid amount/note."
    )

    def add_arguments(self, parser):
        parser.add_argument("--email", required=True, help="The user's email (any letter case).")
        parser.add_argument(
            "--amount",
            required=True,
            type=int,
            help=f"Loyalty points: a non-zero integer from -{MAX_LOYALTY_ADJUSTMENT} to "
            f"{MAX_LOYALTY_ADJUSTMENT}.",
        )
        parser.add_argument(
            "--note",
            default="grant_loyalty",
            help="Why; stored as the event's reference (default: %(default)s; at most 255 characters).",
        )

    def handle(self, *args, email, amount, note, **options):
        if amount == 0:
            raise UsageError("--amount: must be a non-zero integer.")
        # The admin's adjustment form holds the bounds, so both entry points accept the same values.
        form = AdjustStateForm(data={"energy": 0, "fatigue": 0, "loyalty": amount, "note": note})
        if not form.is_valid():
            raise invalid_options(form.errors, {"note": "--note"}, default="--amount")
        user = user_by_email(email)
        change = adjust_state(user=user, **form.cleaned_data)
        event = change.events[0]
        self.stdout.write(
            f"{user.email} ({user.pk}): loyalty {change.before.loyalty} -> {change.after.loyalty} "
            f"(adjustment event #{event.pk}, note {event.reference!r})"
        )
