"""Check-ins over several days through the HTTP API, with the clock moved: state, ledger, history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import assert_ledger_clean
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state

CHECKINS = "/api/v1/checkins/"
EVENTS = "/api/v1/me/events/"
ME = "/api/v1/me/"

RESULT_KEYS = {"check_in", "state", "changes", "unlocked_rewards", "leveled_up"}
# The state's fields (SPEC, "State per user"), and its streak status (SPEC, "Streak status").
STATE_VALUE_KEYS = frozenset(
    {"streak", "longest_streak", "last_checkin_day", "energy", "fatigue", "loyalty", "level"}
    | {"total_checkins", "inventory_count", "inventory_capacity"}
)
STATUS_KEYS = frozenset(
    {"timezone", "day_start_hour", "today", "checked_in_today", "next_day_starts_at"}
    | {"streak_expires_at", "freezes_held", "pause"}
)
STATE_KEYS = STATE_VALUE_KEYS | STATUS_KEYS

pytestmark = pytest.mark.django_db


def _utc(day: int, hour: int = 12, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2030, month, day, hour, minute, second, tzinfo=UTC)


def _check_in_at(time_machine, user, when: datetime):
    """POST checkins/ with the clock stopped at `when` (a fresh token: the old one would have expired)."""
    time_machine.move_to(when, tick=False)
    return bearer_client(user).post(CHECKINS)


def _walk_pages(client, url: str) -> tuple[list[dict], int]:
    """Follow the cursor `next` links; returns every result and the number of pages."""
    results, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        results.extend(body["results"])
        pages += 1
        url = body["next"]
    return results, pages


# --- The worked example end to end --------------------------------------------

# (day of March 2030, streak, longest_streak, energy, fatigue, loyalty, level, leveled_up)
WORKED_EXAMPLE = [
    (1, 1, 1, 70, 10, 5, 1, False),
    (2, 2, 2, 88, 20, 10, 1, False),
    (3, 3, 3, 0, 30, 15, 2, True),
    (4, 4, 4, 14, 40, 20, 2, False),
    (6, 1, 4, 28, 40, 25, 2, False),
]


def test_checkins_when_worked_example_days_then_api_reproduces_the_spec_table(time_machine, user, catalog):
    bodies = []
    for day, streak, longest, energy, fatigue, loyalty, level, leveled_up in WORKED_EXAMPLE:
        response = _check_in_at(time_machine, user, _utc(day))
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == RESULT_KEYS
        assert set(body["state"]) == STATE_KEYS
        state = body["state"]
        assert (
            state["streak"],
            state["longest_streak"],
            state["energy"],
            state["fatigue"],
            state["loyalty"],
            state["level"],
        ) == (streak, longest, energy, fatigue, loyalty, level), f"day {day}"
        assert state["last_checkin_day"] == f"2030-03-{day:02d}"
        assert body["check_in"]["day"] == f"2030-03-{day:02d}"
        assert body["leveled_up"] is leveled_up
        bodies.append(body)

    assert bodies[2]["unlocked_rewards"] == [
        {"slug": "streak_3", "title": "Three in a row", "claimed": False}
    ]
    assert all(b["unlocked_rewards"] == [] for i, b in enumerate(bodies) if i != 2)
    # Day 3: +16 energy reaches 100, so energy goes back to 0 and the level goes up.
    assert bodies[2]["changes"] == {
        "streak": 1,
        "longest_streak": 1,
        "energy": -88,
        "fatigue": 10,
        "loyalty": 5,
        "level": 1,
        "total_checkins": 1,
        "inventory_count": 0,
        "inventory_capacity": 0,
    }
    # Day 6 after a one-day gap: streak resets, fatigue rests 40 -> 30 then +10.
    assert bodies[4]["changes"] == {
        "streak": -3,
        "longest_streak": 0,
        "energy": 14,
        "fatigue": 0,
        "loyalty": 5,
        "level": 0,
        "total_checkins": 1,
        "inventory_count": 0,
        "inventory_capacity": 0,
    }

    stored = UserState.objects.get(user=user)
    assert (stored.streak, stored.longest_streak, stored.energy, stored.fatigue) == (1, 4, 28, 40)
    assert (stored.loyalty, stored.level, stored.total_checkins) == (25, 2, 5)
    assert list(DailyCheckIn.objects.filter(user=user).order_by("day").values_list("day", flat=True)) == [
        datetime(2030, 3, d, tzinfo=UTC).date() for d in (1, 2, 3, 4, 6)
    ]
    assert list(StateEvent.objects.filter(user=user).values_list("kind", flat=True)) == ["check_in"] * 5
    assert_ledger_clean()


def test_events_when_several_check_ins_then_ledger_newest_first_and_cursor_paginated(time_machine, user):
    checkin_ids = []
    for day in (1, 2, 3, 4, 6):
        response = _check_in_at(time_machine, user, _utc(day))
        assert response.status_code == 201
        checkin_ids.append(response.json()["check_in"]["id"])
    other = UserFactory()
    assert _check_in_at(time_machine, other, _utc(7)).status_code == 201
    client = bearer_client(user)

    first = client.get(EVENTS, {"page_size": 2})
    assert first.status_code == 200
    assert len(first.json()["results"]) == 2
    assert first.json()["previous"] is None
    assert "page_size=2" in first.json()["next"]

    events, pages = _walk_pages(client, f"{EVENTS}?page_size=2")
    assert pages == 3
    assert [e["id"] for e in events] == sorted((e["id"] for e in events), reverse=True)
    assert [e["reference"] for e in events] == [str(pk) for pk in reversed(checkin_ids)]
    assert {e["kind"] for e in events} == {"check_in"}
    newest = events[0]
    assert set(newest) == {"id", "kind", "reference", "created_at", "deltas", "result"}
    assert newest["result"].items() <= client.get(ME).json()["state"].items()
    assert set(newest["result"]) == STATE_VALUE_KEYS
    assert newest["deltas"]["streak"] == -3
    assert newest["deltas"]["total_checkins"] == 1
    assert set(StateEvent.objects.filter(user=user).values_list("id", flat=True)) == {e["id"] for e in events}
    assert_ledger_clean()


# --- Streaks, rest, the day boundary -----------------------------------------


def test_checkins_when_consecutive_utc_days_then_streak_increments(time_machine, user):
    streaks = [
        _check_in_at(time_machine, user, _utc(day, hour=8)).json()["state"]["streak"] for day in (1, 2, 3)
    ]
    assert streaks == [1, 2, 3]
    assert_ledger_clean()


def test_checkins_when_days_missed_then_streak_resets_rest_recovers_and_longest_kept(time_machine, user):
    for day in (1, 2, 3):
        assert _check_in_at(time_machine, user, _utc(day)).status_code == 201
    # Day 3 left fatigue 30; day 7 is a gap of 4: rest 30 -> 0, gain the full 20.
    body = _check_in_at(time_machine, user, _utc(7)).json()
    assert body["state"]["streak"] == 1
    assert body["state"]["longest_streak"] == 3
    assert body["state"]["fatigue"] == 10
    assert body["state"]["energy"] == 20
    assert body["changes"]["fatigue"] == -20
    assert body["leveled_up"] is False
    # A month away: recovery never takes fatigue below 0.
    body = _check_in_at(time_machine, user, _utc(6, month=4)).json()
    assert (body["state"]["streak"], body["state"]["longest_streak"]) == (1, 3)
    assert (body["state"]["fatigue"], body["state"]["energy"]) == (10, 40)
    assert_ledger_clean()


def test_checkins_when_energy_reaches_hundred_then_leveled_up_true_and_energy_zero(time_machine, user):
    adjust_state(user=user, note="bring energy to 90", energy=40)
    body = _check_in_at(time_machine, user, _utc(1)).json()
    assert body["leveled_up"] is True
    assert (body["state"]["energy"], body["state"]["level"]) == (0, 2)
    assert body["changes"]["level"] == 1
    assert_ledger_clean()


def test_checkins_when_one_second_apart_across_midnight_then_both_created(time_machine, user):
    late = _check_in_at(time_machine, user, _utc(1, 23, 59, 59))
    early = _check_in_at(time_machine, user, _utc(2, 0, 0, 0))
    assert (late.status_code, early.status_code) == (201, 201)
    assert late.json()["check_in"]["day"] == "2030-03-01"
    assert early.json()["check_in"]["day"] == "2030-03-02"
    assert early.json()["state"]["streak"] == 2
    assert DailyCheckIn.objects.filter(user=user).count() == 2
    assert_ledger_clean()


def test_checkins_when_twice_in_same_utc_day_then_second_is_409_and_nothing_changes(time_machine, user):
    first = _check_in_at(time_machine, user, _utc(1, 0, 0, 0))
    assert first.status_code == 201
    second = _check_in_at(time_machine, user, _utc(1, 23, 59, 59))
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "already_checked_in"
    assert set(second.json()) == {"error"}
    assert second.has_header("X-Request-ID")
    assert bearer_client(user).get(ME).json()["state"] == first.json()["state"]
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert StateEvent.objects.filter(user=user).count() == 1
    assert_ledger_clean()


def test_checkins_when_user_has_no_state_row_then_created_and_checked_in(time_machine):
    user = UserFactory(with_state=False)
    response = _check_in_at(time_machine, user, _utc(1))
    assert response.status_code == 201
    assert response.json()["state"]["energy"] == 70
    assert UserState.objects.filter(user=user).count() == 1
    assert_ledger_clean()


def test_checkins_when_unauthenticated_then_401_and_no_row(api_client, user):
    response = api_client.post(CHECKINS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"not_authenticated", "authentication_failed"}
    assert DailyCheckIn.objects.count() == 0


# --- GET checkins/: own history only -------------------------------------------


def test_checkin_list_when_two_users_then_each_sees_only_own_newest_first_paginated(time_machine, user):
    other = UserFactory()
    own_ids, other_ids = [], []
    for day in (1, 2, 3, 5, 8):
        own_ids.append(_check_in_at(time_machine, user, _utc(day)).json()["check_in"]["id"])
    for day in (2, 4):
        other_ids.append(_check_in_at(time_machine, other, _utc(day)).json()["check_in"]["id"])

    client = bearer_client(user)
    first = client.get(CHECKINS, {"page_size": 2}).json()
    assert [c["day"] for c in first["results"]] == ["2030-03-08", "2030-03-05"]
    assert first["next"]
    history, pages = _walk_pages(client, f"{CHECKINS}?page_size=2")
    assert pages == 3
    assert [c["id"] for c in history] == list(reversed(own_ids))
    assert set(history[0]) == {"id", "day", "created_at"}
    assert not {c["id"] for c in history} & set(other_ids)

    theirs, _ = _walk_pages(bearer_client(other), CHECKINS)
    assert [c["id"] for c in theirs] == list(reversed(other_ids))


def test_checkin_list_when_page_size_over_max_then_capped(time_machine, user):
    for day in range(1, 4):
        _check_in_at(time_machine, user, _utc(day))
    body = bearer_client(user).get(CHECKINS, {"page_size": 10_000}).json()
    assert len(body["results"]) == 3
    assert body["next"] is None


def test_checkin_list_when_no_check_ins_then_empty_page(auth_client):
    body = auth_client.get(CHECKINS).json()
    assert body == {"next": None, "previous": None, "results": []}


def test_checkin_list_when_unauthenticated_then_401(api_client):
    response = api_client.get(CHECKINS)
    assert response.status_code == 401
    assert "error" in response.json()


@pytest.mark.parametrize("url", [CHECKINS, EVENTS])
def test_history_lists_when_cursor_is_garbage_then_404_in_error_shape(auth_client, url):
    response = auth_client.get(url, {"cursor": "not-a-cursor"})
    assert response.status_code == 404
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "not_found"


def test_events_when_other_user_has_events_then_not_visible(time_machine, user):
    other = UserFactory()
    _check_in_at(time_machine, other, _utc(1))
    body = bearer_client(user).get(EVENTS).json()
    assert body["results"] == []
