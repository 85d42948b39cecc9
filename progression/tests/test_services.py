"""Progression services: check_in and adjust_state write the state, the rows and one ledger event."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from accounts.tests.factories import bearer_client
from engagement.errors import AlreadyCheckedIn
from engagement.testing import assert_ledger_clean
from progression.changes import NOTHING, ChangeResult, UnlockedReward, run_after_change
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.services import adjust_state, check_in, lock_state

DAY = date(2030, 3, 1)

pytestmark = pytest.mark.django_db


def test_check_in_when_first_day_then_rows_event_and_result_agree(user):
    result = check_in(user=user, today=DAY)
    assert result.check_in.day == DAY
    assert DailyCheckIn.objects.get(user=user).pk == result.check_in.pk
    (event,) = result.change.events
    assert event.kind == EventKind.CHECK_IN
    assert event.reference == str(result.check_in.pk)
    assert (event.energy_delta, event.energy, event.loyalty, event.last_checkin_day) == (20, 70, 5, DAY)
    stored = UserState.objects.get(user=user)
    assert stored.to_values() == result.change.after
    assert result.change.changes["energy"] == 20
    assert result.change.leveled_up is False
    assert_ledger_clean()


def test_check_in_when_same_day_again_then_already_checked_in_and_nothing_written(user):
    check_in(user=user, today=DAY)
    before = UserState.objects.values().get(user=user)
    with pytest.raises(AlreadyCheckedIn):
        check_in(user=user, today=DAY)
    with pytest.raises(AlreadyCheckedIn):
        check_in(user=user, today=DAY - timedelta(days=1))
    assert UserState.objects.values().get(user=user) == before
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert StateEvent.objects.filter(user=user).count() == 1


def test_check_in_when_row_exists_but_state_lags_then_unique_backstop_refuses_cleanly(user):
    # A check-in row the state does not know about (as if a race slipped past the state check).
    DailyCheckIn.objects.create(user=user, day=DAY)
    before = UserState.objects.values().get(user=user)
    with pytest.raises(AlreadyCheckedIn):
        check_in(user=user, today=DAY)
    assert UserState.objects.values().get(user=user) == before
    assert StateEvent.objects.count() == 0
    # The transaction is still usable afterwards: the next day works.
    assert check_in(user=user, today=DAY + timedelta(days=1)).change.after.streak == 1


def test_check_in_api_when_row_exists_but_state_lags_then_409_not_500(user, time_machine):
    time_machine.move_to("2030-03-01T10:00:00Z", tick=False)
    DailyCheckIn.objects.create(user=user, day=DAY)
    response = bearer_client(user).post("/api/v1/checkins/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "already_checked_in"


def test_check_in_when_no_today_given_then_uses_the_utc_day(user, time_machine):
    time_machine.move_to("2030-03-01T23:30:00-05:00", tick=False)  # already 04:30 on the 2nd in UTC
    assert check_in(user=user).check_in.day == date(2030, 3, 2)


def test_check_in_when_rules_changed_in_settings_then_new_numbers_apply(user, settings):
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "CHECKIN_ENERGY_GAIN": 30, "CHECKIN_LOYALTY_GAIN": 8}
    after = check_in(user=user, today=DAY).change.after
    assert (after.energy, after.loyalty) == (80, 8)


def test_adjust_state_when_deltas_then_clamped_recorded_with_note(user):
    change = adjust_state(user=user, note="  support ticket 12  ", energy=-80, fatigue=30, loyalty=15)
    stored = UserState.objects.get(user=user)
    assert (stored.energy, stored.fatigue, stored.loyalty) == (0, 30, 15)
    (event,) = change.events
    assert event.kind == EventKind.ADJUSTMENT
    assert event.reference == "support ticket 12"
    assert (event.energy_delta, event.fatigue_delta, event.loyalty_delta) == (-50, 30, 15)
    assert_ledger_clean()


def test_adjust_state_when_energy_reaches_hundred_then_one_level_up(user):
    change = adjust_state(user=user, note="boost", energy=100)
    assert change.leveled_up is True
    assert (change.after.energy, change.after.level) == (0, 2)
    assert_ledger_clean()


@pytest.mark.parametrize("note", ["", "   "])
def test_adjust_state_when_note_blank_then_refused_and_nothing_written(user, note):
    with pytest.raises(ValueError, match="note"):
        adjust_state(user=user, note=note, loyalty=10)
    assert UserState.objects.get(user=user).loyalty == 0
    assert StateEvent.objects.count() == 0


def test_check_in_when_streak_three_then_reward_unlocked_in_same_change(user, catalog):
    for n in range(2):
        check_in(user=user, today=DAY + timedelta(days=n))
    change = check_in(user=user, today=DAY + timedelta(days=2)).change
    assert change.unlocked_rewards == (
        UnlockedReward(slug="streak_3", title="Three in a row", claimed=False),
    )
    assert len(change.events) == 1


def test_check_in_when_streak_seven_then_auto_claim_event_and_changes_include_it(user, catalog):
    for n in range(6):
        check_in(user=user, today=DAY + timedelta(days=n))
    loyalty_before = UserState.objects.get(user=user).loyalty
    change = check_in(user=user, today=DAY + timedelta(days=6)).change
    assert [e.kind for e in change.events] == [EventKind.CHECK_IN, EventKind.REWARD_CLAIM]
    assert UnlockedReward(slug="streak_7", title="A whole week", claimed=True) in change.unlocked_rewards
    # Check-in loyalty at level 2 (round(5.25) = 5) plus the reward's 25, no multiplier.
    assert change.changes["loyalty"] == 30
    assert UserState.objects.get(user=user).loyalty == loyalty_before + 30
    assert_ledger_clean()


def _records_nothing(*, state, change):
    return NOTHING


def test_pipeline_when_a_consumer_records_nothing_then_the_change_is_the_one_it_was_given(user, settings):
    settings.ENGAGEMENT_AFTER_CHANGE = ["progression.tests.test_services._records_nothing"]
    state = lock_state(user)
    values = state.to_values()
    change = ChangeResult(before=values, after=values, events=())
    assert run_after_change(state=state, change=change) is change


def test_check_in_when_an_auto_claim_follows_then_the_change_ends_with_the_claim_as_stored(user, catalog):
    for offset in range(6):
        check_in(user=user, today=DAY + timedelta(days=offset))

    seventh = check_in(user=user, today=DAY + timedelta(days=6)).change

    assert [event.kind for event in seventh.events] == [EventKind.CHECK_IN, EventKind.REWARD_CLAIM]
    assert [(reward.slug, reward.claimed) for reward in seventh.unlocked_rewards] == [("streak_7", True)]
    assert seventh.after == UserState.objects.get(user=user).to_values()
    assert seventh.changes["loyalty"] == seventh.events[0].loyalty_delta + 25
    assert_ledger_clean()
