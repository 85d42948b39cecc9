"""What a state change produced, and the after-change pipeline that runs on every one.

The pipeline is the list `settings.ENGAGEMENT_AFTER_CHANGE`, read like MIDDLEWARE: each
entry is a consumer called as `consumer(state=<locked UserState>, change=<ChangeResult>)`
after the change's ledger event(s) are written, inside the same transaction with the user's
lock held, in the listed order. A consumer returns an AfterChangeOutcome (the ledger events
it wrote, the rewards it unlocked) and never mutates the change it was given; the pipeline
folds each outcome into the change that the next consumer sees, so a later consumer (the
outbox, a leaderboard) sees the events an earlier one (reward auto-claims) added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from engagement.db import writes_together
from engagement.imports import ImportedList
from progression import rules

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

    from progression.models import StateEvent, UserState


@dataclass(frozen=True)
class UnlockedReward:
    """A reward that became available during a change; `claimed` when it was auto-claimed."""

    slug: str
    title: str
    claimed: bool = False


@dataclass(frozen=True)
class AfterChangeOutcome:
    """What one consumer of the pipeline did: ledger events it wrote, rewards it unlocked."""

    events: tuple[StateEvent, ...] = ()
    unlocked_rewards: tuple[UnlockedReward, ...] = ()


NOTHING = AfterChangeOutcome()


@dataclass(frozen=True)
class ChangeResult:
    """One service call's change: values before and after, its ledger events, unlocks."""

    before: rules.State
    after: rules.State
    events: tuple[StateEvent, ...]
    unlocked_rewards: tuple[UnlockedReward, ...] = ()

    @property
    def changes(self) -> dict[str, int]:
        """Signed change of every state field over the whole call (follow-on events included)."""
        return self.before.deltas_to(self.after)

    @property
    def leveled_up(self) -> bool:
        return self.after.level > self.before.level

    def with_outcome(self, outcome: AfterChangeOutcome, *, after: rules.State) -> ChangeResult:
        return replace(
            self,
            after=after,
            events=self.events + outcome.events,
            unlocked_rewards=self.unlocked_rewards + outcome.unlocked_rewards,
        )


AfterChangeConsumer = Callable[..., AfterChangeOutcome]


# The consumers named by settings.ENGAGEMENT_AFTER_CHANGE, in order.
after_change_consumers: ImportedList[AfterChangeConsumer] = ImportedList("ENGAGEMENT_AFTER_CHANGE")


@dataclass(frozen=True)
class LockedRead:
    """What a consumer reads in lock_state's own statement, instead of in a query of its own.

    A consumer that sets one as its `locked_read` attribute finds the value in
    `state.locked_reads[name]` when it runs. `sql(connection, user_column)` returns a scalar
    subquery without parameters that reaches the locked row's user key as `user_column`;
    `load(value)` turns its result into what the consumer uses. A state locked by other means
    has no such value: the consumer then runs its query as before.

    The value is as of the lock statement's snapshot. When that statement waited for the lock,
    PostgreSQL reads the locked row again once it is free, but not the subquery: what the
    transaction it waited for wrote is missing from the value. A consumer may use it to find
    that it has nothing to do, never to decide what to write.
    """

    name: str
    sql: Callable[[BaseDatabaseWrapper, str], str]
    load: Callable[[Any], Any]


def locked_reads() -> tuple[LockedRead, ...]:
    """The reads of the pipeline's consumers, in their order, each once: the ones lock_state takes.

    Only LockedRead values count: any other `locked_read` attribute (a test double's) is ignored.
    """
    reads = (getattr(consumer, "locked_read", None) for consumer in after_change_consumers())
    return tuple(dict.fromkeys(read for read in reads if isinstance(read, LockedRead)))


def run_after_change(*, state: UserState, change: ChangeResult) -> ChangeResult:
    """Run every consumer on `change`; returns it with their outcomes folded in. Requires the lock.

    The writes no consumer reads back (the leaderboard scores, the outbox job, the rollup) go as
    one statement at the end (engagement.db.writes_together).
    """
    with writes_together():
        for consumer in after_change_consumers():
            outcome = consumer(state=state, change=change)
            if outcome.events or outcome.unlocked_rewards:
                change = change.with_outcome(outcome, after=state.to_values())
    return change
