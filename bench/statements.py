"""The pre-built statements of engagement/db.py against the plain ORM: app CPU per call.

    DATABASE_URL=postgres://... python -m bench.statements [--calls 3000]

For each statement the hot paths run through engagement/db.py (the user lookup of every
authenticated request, the state lock, the state write, the ledger insert), the same work is
done N times each way in this process, alternating in rounds, on a migrated database (a
throwaway user; everything rolled back): the ORM form a Saleor-style service would write, and
the pre-built one. What is reported is this process's CPU time per call (time.process_time:
the Python side, which is what the pre-built SQL saves; the database's own work is the same
SQL either way), the median over rounds. Relate it to an endpoint's app CPU per request from
`make bench` to see the share it saves.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engagement.settings")
    os.environ.setdefault("DJANGO_DEBUG", "true")
    import django

    django.setup()


def _cpu_per_call(work: Callable[[], object], calls: int) -> float:
    start = time.process_time()
    for _ in range(calls):
        work()
    return (time.process_time() - start) / calls


def cases():
    """(name, ORM form, pre-built form), each a function of no argument doing one statement."""
    from django.utils import timezone

    from accounts.models import User
    from engagement.db import fetch_by, insert_row, update_row
    from progression.models import EventKind, StateEvent, UserState
    from progression.rules import STATE_FIELDS
    from progression.services import _STATE_COLUMNS, ensure_state

    user = User.objects.create_user(email=f"bench-{os.getpid()}@example.com", password=None)
    state, _ = ensure_state(user)
    values = {name: getattr(state, name) for name in _STATE_COLUMNS if name != "updated_at"}

    def event() -> StateEvent:
        return StateEvent(
            user_id=user.pk,
            kind=EventKind.ADJUSTMENT,
            reference="bench",
            **{name: values[name] for name in STATE_FIELDS},
        )

    return [
        (
            "user lookup (every authenticated request)",
            lambda: User.objects.filter(id=user.pk).first(),
            lambda: fetch_by(User, "id", user.pk),
        ),
        (
            "state lock (SELECT ... FOR UPDATE)",
            lambda: UserState.objects.select_for_update().get(user_id=user.pk),
            lambda: fetch_by(UserState, "user", user.pk, for_update=True),
        ),
        (
            "state write (UPDATE of the state columns)",
            lambda: UserState.objects.filter(user_id=user.pk).update(**values, updated_at=timezone.now()),
            lambda: update_row(state, _STATE_COLUMNS, key="user"),
        ),
        (
            "ledger insert (INSERT ... RETURNING id)",
            lambda: event().save(force_insert=True),
            lambda: insert_row(event()),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000, help="calls per form per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    _setup_django()
    from django.db import transaction

    print(f"{'statement':44} {'ORM µs':>8} {'pre-built µs':>13} {'saved µs':>9}")
    with transaction.atomic():
        for name, orm, prebuilt in cases():
            orm(), prebuilt()  # warm caches (the pre-built SQL, the ORM's model metadata)
            timings: dict[str, list[float]] = {"orm": [], "prebuilt": []}
            for _ in range(args.rounds):
                timings["orm"].append(_cpu_per_call(orm, args.calls))
                timings["prebuilt"].append(_cpu_per_call(prebuilt, args.calls))
            o = statistics.median(timings["orm"]) * 1e6
            p = statistics.median(timings["prebuilt"]) * 1e6
            print(f"{name:44} {o:8.0f} {p:13.0f} {o - p:9.0f}")
        transaction.set_rollback(True)


if __name__ == "__main__":
    main()
