"""Reward unlocking (an after-change consumer), claiming, and auto-claim."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from engagement.db import db_value, statement_cursor
from engagement.errors import AlreadyClaimed, InventoryFull, RewardLocked, RewardNotFound
from inventory.services import add_items
from progression import rules
from progression.changes import NOTHING, AfterChangeOutcome, ChangeResult, LockedRead, UnlockedReward
from progression.models import EventKind, StateEvent, UserState
from progression.services import effects_of, finish_change, get_rules, lock_state, record_change
from rewards.models import Condition, RewardDefinition, UserReward
from rewards.selectors import RewardStatus, reward_status


@dataclass(frozen=True)
class ClaimResult:
    """A claim's change, and the reward with the caller's status after it."""

    reward: RewardStatus
    change: ChangeResult


@functools.cache
def _eligible_sql() -> str:
    """Slugs of active rewards whose condition holds and that the user has not unlocked.

    Built once: the ORM would compile this OR-of-conditions query on every state change.
    """
    quote = connection.ops.quote_name
    reward, unlocked = quote(RewardDefinition._meta.db_table), quote(UserReward._meta.db_table)
    holds = " OR ".join(["(r.condition = %s AND r.threshold <= %s)"] * len(Condition.values))
    return (
        f"SELECT r.slug FROM {reward} r WHERE r.is_active = %s AND ({holds}) "  # noqa: S608 - identifiers from model metadata
        f"AND NOT EXISTS (SELECT 1 FROM {unlocked} u WHERE u.user_id = %s AND u.reward_id = r.slug) "
        "ORDER BY r.slug"
    )


# A reward the user could still unlock: (slug, condition, threshold).
Candidate = tuple[str, str, int]


def _candidates_sql(connection: BaseDatabaseWrapper, user_column: str) -> str:
    """The user's candidates as one JSON array (NULL or [] for none): lock_state's read for us."""
    quote = connection.ops.quote_name
    reward, unlocked = quote(RewardDefinition._meta.db_table), quote(UserReward._meta.db_table)
    if connection.vendor == "postgresql":
        rows = "json_agg(json_build_array(r.slug, r.condition, r.threshold) ORDER BY r.slug)::text"
    else:
        rows = "json_group_array(json_array(r.slug, r.condition, r.threshold))"
    return (
        f"SELECT {rows} FROM {reward} r WHERE r.is_active "  # noqa: S608 - identifiers from model metadata
        f"AND NOT EXISTS (SELECT 1 FROM {unlocked} u "
        f"WHERE u.user_id = {user_column} AND u.reward_id = r.slug)"
    )


def _load_candidates(value: str | None) -> tuple[Candidate, ...]:
    rows = json.loads(value or "[]")
    return tuple(sorted((slug, condition, threshold) for slug, condition, threshold in rows))


# Read with the state's lock (progression.changes.LockedRead): the active rewards the user had
# not unlocked. When none of them holds after the change, no query asks (eligible_rewards).
CANDIDATES = LockedRead(name="rewards.candidates", sql=_candidates_sql, load=_load_candidates)


def eligible_rewards(
    *, user_id, values: rules.State, candidates: tuple[Candidate, ...] | None = None
) -> list[RewardDefinition]:
    """Active rewards whose condition holds and that the user has not unlocked.

    One indexed query (the unique (user, reward) index answers NOT EXISTS), whatever the
    number of rewards the user already has; a second only when something unlocks.
    `candidates` (read with the lock) spare the query when none of them holds, which is
    every change but a few. They cannot decide more: lock_state read them in its statement's
    snapshot, and when that statement waited for the lock, the transaction it waited for may
    have unlocked some of them since. The query, which runs after the lock, sees that.

    A reward an operator creates, activates or lowers while the change waits for the lock is
    not among the candidates: it counts from the user's next change, as it would had the
    operator saved it a moment after this one.
    """
    if candidates is not None and not holding(candidates, values):
        return []
    params: list = [True]
    for condition in Condition.values:
        params += [condition, rules.condition_value(values, condition)]
    params.append(db_value(UserReward, "user", user_id))
    with statement_cursor() as cursor:
        cursor.execute(_eligible_sql(), params)
        slugs = [row[0] for row in cursor.fetchall()]
    if not slugs:
        return []
    return list(RewardDefinition.objects.filter(slug__in=slugs).order_by("slug"))


_CONDITIONS = frozenset(Condition.values)


def holding(candidates: tuple[Candidate, ...], values: rules.State) -> set[str]:
    """The slugs of the candidates whose condition holds for `values`."""
    return {
        slug
        for slug, condition, threshold in candidates
        if condition in _CONDITIONS and threshold <= rules.condition_value(values, condition)
    }


def _pay_out(*, state: UserState, reward: RewardDefinition, user_reward: UserReward) -> StateEvent:
    """Pay a reward out once, as one `reward_claim` event (no pipeline).

    Requires the lock; checks capacity before writing anything.
    """
    values = state.to_values()
    if reward.grant_tool_id and (values.inventory_count + reward.grant_quantity > values.inventory_capacity):
        raise InventoryFull("Your inventory has no room for the tool this reward grants.")
    # Never before the unlock (claimed_after_unlocked), even when this host's clock trails
    # the one that unlocked it.
    now = max(timezone.now(), user_reward.unlocked_at)
    claimed = UserReward.objects.filter(pk=user_reward.pk, claimed_at__isnull=True).update(claimed_at=now)
    if not claimed:
        raise AlreadyClaimed()
    user_reward.claimed_at = now
    if reward.grant_tool_id:
        add_items(
            state=state,
            tool_id=reward.grant_tool_id,
            quantity=reward.grant_quantity,
            is_freeze=reward.grant_tool is not None and reward.grant_tool.is_freeze,
        )
        values = values.replace(inventory_count=values.inventory_count + reward.grant_quantity)
    new = rules.apply_exact(values, **effects_of(reward), rules=get_rules())
    return record_change(state=state, new=new, kind=EventKind.REWARD_CLAIM, reference=reward.slug)


def unlock_after_change(*, state: UserState, change: ChangeResult) -> AfterChangeOutcome:
    """After-change consumer: unlock what now holds; auto-claim in slug order, re-unlocking after each.

    Runs inside the caller's transaction with the lock held. Returns the rewards it unlocked
    (`claimed` for the auto-claimed ones) and the `reward_claim` events of the auto-claims.
    """
    unlocked: dict[str, UnlockedReward] = {}
    events: list[StateEvent] = []
    queue: list[tuple[RewardDefinition, UserReward]] = []
    while True:
        now = timezone.now()
        values = state.to_values()
        candidates = state.locked_reads.get(CANDIDATES.name)
        fresh = eligible_rewards(user_id=state.user_id, values=values, candidates=candidates)
        if candidates is not None and (asked := holding(candidates, values)):
            # The query answered for these: unlocked now, or already (or no longer active).
            kept = tuple(c for c in candidates if c[0] not in asked)
            state.locked_reads = {**state.locked_reads, CANDIDATES.name: kept}
        rows = UserReward.objects.bulk_create(
            [UserReward(user_id=state.user_id, reward=reward, unlocked_at=now) for reward in fresh]
        )
        if any(row.pk is None for row in rows):  # databases that cannot return inserted ids
            by_slug = {
                row.reward_id: row
                for row in UserReward.objects.filter(
                    user_id=state.user_id, reward_id__in=[r.slug for r in fresh]
                )
            }
            rows = [by_slug[reward.slug] for reward in fresh]
        for reward, row in zip(fresh, rows, strict=True):
            unlocked[reward.slug] = UnlockedReward(slug=reward.slug, title=reward.title)
            if reward.auto_claim:
                queue.append((reward, row))
        queue.sort(key=lambda pair: pair[0].slug)
        if not queue:
            if not unlocked:
                return NOTHING
            return AfterChangeOutcome(events=tuple(events), unlocked_rewards=tuple(unlocked.values()))
        reward, row = queue.pop(0)
        try:
            events.append(_pay_out(state=state, reward=reward, user_reward=row))
        except InventoryFull:  # raised before anything is written
            continue  # stays unlocked; the user can claim it once there is room
        unlocked[reward.slug] = UnlockedReward(slug=reward.slug, title=reward.title, claimed=True)


unlock_after_change.locked_read = CANDIDATES  # type: ignore[attr-defined]


def claim_reward(*, user, slug: str) -> ClaimResult:
    """Claim an unlocked reward: its effects as one `reward_claim` event, then the pipeline."""
    reward = RewardDefinition.objects.filter(slug=slug, is_active=True).first()
    if reward is None:
        raise RewardNotFound()
    with transaction.atomic():
        state = lock_state(user)
        user_reward = UserReward.objects.filter(user_id=user.pk, reward_id=slug).first()
        if user_reward is None:
            raise RewardLocked()
        if user_reward.claimed_at is not None:
            raise AlreadyClaimed()
        before = state.to_values()
        event = _pay_out(state=state, reward=reward, user_reward=user_reward)
        change = finish_change(state=state, before=before, events=(event,))
    return ClaimResult(reward=reward_status(reward, user_reward, change.after), change=change)


def seed_rewards():
    """Upsert the seeded rewards; idempotent. Needs the seeded tools (checkins_10 grants one)."""
    from engagement.seeding import upsert_rows
    from rewards.catalog import SEEDED_REWARDS

    return upsert_rows(RewardDefinition, SEEDED_REWARDS)
