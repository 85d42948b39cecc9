"""The messages of a change, as pure functions over ledger events (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from progression.changes import ChangeResult, UnlockedReward
from progression.models import EventKind, StateEvent
from progression.rules import STATE_FIELDS, State
from webhooks import messages as wire

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
AT = datetime(2026, 3, 2, 12, 0, 0, 123456, tzinfo=UTC)


def event(pk: int, kind: str, reference: str = "", **values) -> StateEvent:
    """An in-memory ledger event: resulting values and deltas (deltas as `<field>_delta`)."""
    row = StateEvent(pk=pk, user_id=USER, kind=kind, reference=reference, created_at=AT)
    for name in STATE_FIELDS:
        setattr(row, name, values.get(name, {"energy": 50, "level": 1, "inventory_capacity": 5}.get(name, 0)))
        setattr(row, f"{name}_delta", values.get(f"{name}_delta", 0))
    row.last_checkin_day = values.get("last_checkin_day")
    return row


def change(*events: StateEvent, unlocked: tuple[UnlockedReward, ...] = ()) -> ChangeResult:
    return ChangeResult(before=State(), after=State(), events=events, unlocked_rewards=unlocked)


def test_every_ledger_kind_when_mapped_then_it_has_a_known_type():
    assert set(wire.TYPE_OF_KIND) == set(EventKind.values)
    assert set(wire.TYPE_OF_KIND.values()) <= set(wire.TYPES)
    assert wire.TYPE_OF_KIND[EventKind.LEADERBOARD_PRIZE] == wire.STATE_ADJUSTED
    assert len(wire.TYPES) == 12


def test_first_check_in_when_mapped_then_created_and_streak_extended_from_zero():
    checkin = event(
        7,
        EventKind.CHECK_IN,
        "3",
        streak=1,
        streak_delta=1,
        longest_streak=1,
        last_checkin_day=date(2026, 3, 2),
    )
    out = wire.change_messages(change(checkin))
    assert [m["type"] for m in out] == ["check_in.created", "streak.extended"]
    assert [m["id"] for m in out] == ["msg_7_check_in.created", "msg_7_streak.extended"]
    created = out[0]
    assert created["timestamp"] == "2026-03-02T12:00:00.123456Z"
    assert created["data"]["user_id"] == str(USER)
    assert created["data"]["event_id"] == 7
    assert created["data"]["check_in_id"] == 3
    assert created["data"]["day"] == "2026-03-02"
    assert created["data"]["deltas"]["streak"] == 1
    assert set(created["data"]["deltas"]) == set(STATE_FIELDS)
    assert set(created["data"]["result"]) == {*STATE_FIELDS, "last_checkin_day"}
    assert out[1]["data"] == {
        "user_id": str(USER),
        "event_id": 7,
        "streak": 1,
        "previous_streak": 0,
        "longest_streak": 1,
    }


def test_check_in_after_a_gap_when_mapped_then_streak_reset_with_the_lost_streak():
    checkin = event(9, EventKind.CHECK_IN, "4", streak=1, streak_delta=-4, longest_streak=5)
    out = wire.change_messages(change(checkin))
    assert [m["type"] for m in out] == ["check_in.created", "streak.reset"]
    assert out[1]["data"]["previous_streak"] == 5
    assert out[1]["data"]["streak"] == 1


def test_any_event_when_level_rises_then_level_up_follows_it():
    use = event(11, EventKind.TOOL_USE, "coffee", level=3, level_delta=1, inventory_count_delta=-1)
    out = wire.change_messages(change(use))
    assert [m["type"] for m in out] == ["tool.used", "level.up"]
    assert out[0]["data"]["tool"] == "coffee"
    assert out[0]["data"]["quantity"] == 1
    assert out[1]["data"] == {"user_id": str(USER), "event_id": 11, "level": 3, "previous_level": 2}


def test_check_in_when_rewards_unlock_and_one_is_auto_claimed_then_unlocks_point_at_the_check_in():
    checkin = event(20, EventKind.CHECK_IN, "8", streak=7, streak_delta=1, longest_streak=7)
    claim = event(21, EventKind.REWARD_CLAIM, "streak_7", loyalty=25, loyalty_delta=25)
    unlocked = (UnlockedReward("streak_7", "A week", claimed=True), UnlockedReward("zz", "Other"))
    out = wire.change_messages(change(checkin, claim, unlocked=unlocked))
    assert [m["id"] for m in out] == [
        "msg_20_check_in.created",
        "msg_20_streak.extended",
        "msg_21_reward.claimed",
        "msg_20_reward.unlocked_streak_7",
        "msg_20_reward.unlocked_zz",
    ]
    assert out[2]["data"]["reward"] == "streak_7"
    assert out[2]["data"]["auto_claimed"] is True
    assert out[3]["data"]["auto_claimed"] is True
    assert out[4]["data"]["auto_claimed"] is False


def test_manual_claim_when_it_unlocks_more_then_unlock_points_at_the_claim():
    claim = event(30, EventKind.REWARD_CLAIM, "streak_3", level=2, level_delta=1)
    out = wire.change_messages(change(claim, unlocked=(UnlockedReward("lvl", "Level two"),)))
    assert [m["id"] for m in out] == [
        "msg_30_reward.claimed",
        "msg_30_level.up",
        "msg_30_reward.unlocked_lvl",
    ]
    assert out[0]["data"]["auto_claimed"] is False


@pytest.mark.parametrize(
    ("kind", "reference", "values", "expected_type", "extra"),
    [
        (EventKind.TOOL_PURCHASE, "coffee", {"inventory_count_delta": 2}, "tool.purchased", {"quantity": 2}),
        (EventKind.ADJUSTMENT, "welcome", {"loyalty_delta": 30}, "state.adjusted", {}),
        (EventKind.LEADERBOARD_PRIZE, "weekly:2026-03-02:1", {"loyalty_delta": 50}, "state.adjusted", {}),
        (EventKind.FREEZE_CONSUMED, "freeze:2", {"inventory_count_delta": -2}, "streak.freeze_consumed", {}),
        (EventKind.STREAK_REPAIR, "repair", {"streak_delta": 6}, "streak.repaired", {}),
    ],
)
def test_each_kind_when_mapped_then_its_type_carries_kind_reference_and_deltas(
    kind, reference, values, expected_type, extra
):
    (only,) = wire.change_messages(change(event(40, kind, reference, **values)))
    assert only["type"] == expected_type
    assert only["id"] == f"msg_40_{expected_type}"
    assert only["data"]["kind"] == kind
    assert only["data"]["reference"] == reference
    for name, delta in values.items():
        assert only["data"]["deltas"][name.removesuffix("_delta")] == delta
    for name, value in extra.items():
        assert only["data"][name] == value
    if kind == EventKind.FREEZE_CONSUMED:
        assert only["data"]["freezes_consumed"] == 2


def test_message_ids_when_built_twice_then_identical():
    checkin = event(50, EventKind.CHECK_IN, "1", streak=2, streak_delta=1)
    assert wire.change_messages(change(checkin)) == wire.change_messages(change(checkin))
