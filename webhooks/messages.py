"""What a change says to the outside: the webhook messages of its ledger events, as pure functions.

No database and no clock: a message is built from the ledger events of the change (their ids,
kinds, deltas, resulting values and created_at) and the rewards it unlocked. Each message is a
plain dict {"id", "type", "timestamp", "data"}; "id" is the `webhook-id`, derived from the
ledger event id and the type (and the reward for reward.unlocked), so it is the same on every
attempt and a receiver can deduplicate on it.

Types by ledger kind (README "Webhooks"):
  check_in           check_in.created, then streak.extended or streak.reset
  freeze_consumed    streak.freeze_consumed
  streak_repair      streak.repaired
  reward_claim       reward.claimed
  tool_purchase      tool.purchased
  tool_use           tool.used
  adjustment         state.adjusted
  leaderboard_prize  state.adjusted (a change the user did not make; data.kind tells which)
and level.up after any event that raised the level, reward.unlocked for each reward the change
unlocked. leaderboard.finalized is not tied to one user's event: publish() sends it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from progression.models import EventKind
from progression.rules import STATE_FIELDS

if TYPE_CHECKING:
    from progression.changes import ChangeResult
    from progression.models import StateEvent

CHECK_IN_CREATED = "check_in.created"
STREAK_EXTENDED = "streak.extended"
STREAK_RESET = "streak.reset"
STREAK_FREEZE_CONSUMED = "streak.freeze_consumed"
STREAK_REPAIRED = "streak.repaired"
LEVEL_UP = "level.up"
REWARD_UNLOCKED = "reward.unlocked"
REWARD_CLAIMED = "reward.claimed"
TOOL_PURCHASED = "tool.purchased"
TOOL_USED = "tool.used"
STATE_ADJUSTED = "state.adjusted"
LEADERBOARD_FINALIZED = "leaderboard.finalized"

TYPES = (
    CHECK_IN_CREATED,
    STREAK_EXTENDED,
    STREAK_RESET,
    STREAK_FREEZE_CONSUMED,
    STREAK_REPAIRED,
    LEVEL_UP,
    REWARD_UNLOCKED,
    REWARD_CLAIMED,
    TOOL_PURCHASED,
    TOOL_USED,
    STATE_ADJUSTED,
    LEADERBOARD_FINALIZED,
)

# The message type of each ledger kind (every kind has one: a test holds it).
TYPE_OF_KIND = {
    EventKind.CHECK_IN: CHECK_IN_CREATED,
    EventKind.FREEZE_CONSUMED: STREAK_FREEZE_CONSUMED,
    EventKind.STREAK_REPAIR: STREAK_REPAIRED,
    EventKind.REWARD_CLAIM: REWARD_CLAIMED,
    EventKind.TOOL_PURCHASE: TOOL_PURCHASED,
    EventKind.TOOL_USE: TOOL_USED,
    EventKind.ADJUSTMENT: STATE_ADJUSTED,
    EventKind.LEADERBOARD_PRIZE: STATE_ADJUSTED,
}


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the microsecond."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_id(*parts: object) -> str:
    return "msg_" + "_".join(str(part) for part in parts)


def message(*, id: str, type: str, moment: datetime, data: dict) -> dict:
    return {"id": id, "type": type, "timestamp": timestamp(moment), "data": data}


def _event_data(event: StateEvent) -> dict:
    """What every message of a ledger event carries: whose, which event, and what it changed.

    deltas and result are the shapes of GET me/events/.
    """
    day = event.last_checkin_day
    return {
        "user_id": str(event.user_id),
        "event_id": event.pk,
        "kind": str(event.kind),
        "reference": event.reference,
        "deltas": {name: getattr(event, f"{name}_delta") for name in STATE_FIELDS},
        "result": {
            **{name: getattr(event, name) for name in STATE_FIELDS},
            "last_checkin_day": day.isoformat() if day is not None else None,
        },
    }


def _fact_data(event: StateEvent, **fields) -> dict:
    return {"user_id": str(event.user_id), "event_id": event.pk, **fields}


def event_messages(event: StateEvent, *, auto_claimed: bool = False) -> list[dict]:
    """The messages of one ledger event: its kind's type, then the facts it carries."""
    kind_type = TYPE_OF_KIND[EventKind(event.kind)]
    data = _event_data(event)
    if event.kind == EventKind.CHECK_IN:
        data["check_in_id"] = int(event.reference) if event.reference.isdigit() else None
        data["day"] = data["result"]["last_checkin_day"]
    elif event.kind == EventKind.REWARD_CLAIM:
        data["reward"] = event.reference
        data["auto_claimed"] = auto_claimed
    elif event.kind in (EventKind.TOOL_PURCHASE, EventKind.TOOL_USE):
        data["tool"] = event.reference
        data["quantity"] = abs(event.inventory_count_delta)
    elif event.kind == EventKind.FREEZE_CONSUMED:
        data["freezes_consumed"] = -event.inventory_count_delta
    out = [message(id=message_id(event.pk, kind_type), type=kind_type, moment=event.created_at, data=data)]

    if event.kind == EventKind.CHECK_IN:
        previous = event.streak - event.streak_delta
        extended = event.streak == previous + 1
        streak_type = STREAK_EXTENDED if extended else STREAK_RESET
        fact = {"streak": event.streak, "previous_streak": previous, "longest_streak": event.longest_streak}
        out.append(
            message(
                id=message_id(event.pk, streak_type),
                type=streak_type,
                moment=event.created_at,
                data=_fact_data(event, **fact),
            )
        )
    if event.level_delta > 0:
        out.append(
            message(
                id=message_id(event.pk, LEVEL_UP),
                type=LEVEL_UP,
                moment=event.created_at,
                data=_fact_data(event, level=event.level, previous_level=event.level - event.level_delta),
            )
        )
    return out


def _trigger(change: ChangeResult, auto_claims: set[str]) -> StateEvent | None:
    """The event whose change unlocked the rewards: the last one that is not an auto-claim payout."""
    for event in reversed(change.events):
        if not (event.kind == EventKind.REWARD_CLAIM and event.reference in auto_claims):
            return event
    return change.events[0] if change.events else None


def change_messages(change: ChangeResult) -> list[dict]:
    """Every message of a change, in ledger order: each event's, then the rewards it unlocked."""
    auto_claims = {reward.slug for reward in change.unlocked_rewards if reward.claimed}
    out: list[dict] = []
    for event in change.events:
        auto = event.kind == EventKind.REWARD_CLAIM and event.reference in auto_claims
        out.extend(event_messages(event, auto_claimed=auto))
    trigger = _trigger(change, auto_claims)
    if trigger is not None:
        for reward in change.unlocked_rewards:
            out.append(
                message(
                    id=message_id(trigger.pk, REWARD_UNLOCKED, reward.slug),
                    type=REWARD_UNLOCKED,
                    moment=trigger.created_at,
                    data=_fact_data(
                        trigger, reward=reward.slug, title=reward.title, auto_claimed=reward.claimed
                    ),
                )
            )
    return out
