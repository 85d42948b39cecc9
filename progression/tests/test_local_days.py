"""Local days and streak protection through the HTTP API, with the clock moved, on the real database."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.tests.factories import UserFactory, bearer_client
from engagement.audit import verify_ledger
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, StateEvent, StreakPause, UserState
from progression.services import adjust_state, check_in

API = "/api/v1"
ME = f"{API}/me/"
CHECKINS = f"{API}/checkins/"
PAUSE = f"{API}/me/pause/"
REPAIR = f"{API}/me/streak/repair/"

pytestmark = pytest.mark.django_db


def client_at(time_machine, user, when: datetime):
    """An authenticated client with the clock stopped at `when` (a fresh token for that instant)."""
    time_machine.move_to(when, tick=False)
    return bearer_client(user)


def local(zone: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(zone))


def utc_day(day: int, hour: int = 12) -> datetime:
    """Noon UTC of a day of March 2030 (the worked example's days)."""
    return datetime(2030, 3, day, hour, tzinfo=UTC)


def set_days(time_machine, user, when: datetime, **body):
    response = client_at(time_machine, user, when).patch(ME, body, format="json")
    assert response.status_code == 200, response.content
    return response


def kinds(user) -> list[str]:
    return list(StateEvent.objects.filter(user=user).order_by("id").values_list("kind", flat=True))


def assert_ledger_clean() -> None:
    report = verify_ledger()
    assert report.ok, report.mismatches


# --- the local day -----------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_check_ins_when_either_side_of_local_midnight_then_two_days(time_machine, user, zone):
    set_days(time_machine, user, datetime(2030, 5, 1, tzinfo=UTC), timezone=zone)

    first = client_at(time_machine, user, local(zone, 2030, 5, 10, 23, 59, 58)).post(CHECKINS)
    second = client_at(time_machine, user, local(zone, 2030, 5, 11, 0, 0, 2)).post(CHECKINS)

    assert (first.status_code, second.status_code) == (201, 201), second.content
    assert first.json()["check_in"]["day"] == "2030-05-10"
    assert second.json()["check_in"]["day"] == "2030-05-11"
    state = second.json()["state"]
    assert (state["streak"], state["today"], state["checked_in_today"]) == (2, "2030-05-11", True)
    assert state["timezone"] == zone
    next_start = local(zone, 2030, 5, 12, 0, 0, 0).astimezone(UTC)
    assert state["next_day_starts_at"] == next_start.isoformat().replace("+00:00", "Z")
    assert list(DailyCheckIn.objects.filter(user=user).values_list("day", flat=True).order_by("day")) == [
        date(2030, 5, 10),
        date(2030, 5, 11),
    ]
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("zone", "change_day"),
    [
        ("Europe/Warsaw", date(2030, 3, 31)),  # spring forward
        ("Europe/Warsaw", date(2030, 10, 27)),  # fall back
        ("America/New_York", date(2030, 3, 10)),
        ("America/New_York", date(2030, 11, 3)),
    ],
)
def test_check_in_when_dst_change_day_then_counts_once(time_machine, user, zone, change_day):
    set_days(time_machine, user, datetime(2030, 1, 1, tzinfo=UTC), timezone=zone)
    y, m, d = change_day.year, change_day.month, change_day.day

    early = client_at(time_machine, user, local(zone, y, m, d, 0, 30)).post(CHECKINS)
    late = client_at(time_machine, user, local(zone, y, m, d, 23, 30)).post(CHECKINS)
    next_day = client_at(time_machine, user, local(zone, y, m, d, 23, 59, 59) + timedelta(seconds=1)).post(
        CHECKINS
    )

    assert early.status_code == 201
    assert early.json()["check_in"]["day"] == change_day.isoformat()
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "already_checked_in"
    assert next_day.status_code == 201
    assert next_day.json()["check_in"]["day"] == (change_day + timedelta(days=1)).isoformat()
    assert DailyCheckIn.objects.filter(user=user).count() == 2
    assert_ledger_clean()


def test_check_in_when_day_start_hour_4_then_0330_belongs_to_the_day_before(time_machine, user):
    set_days(time_machine, user, datetime(2030, 5, 1, tzinfo=UTC), timezone="Europe/Warsaw", day_start_hour=4)

    night = client_at(time_machine, user, local("Europe/Warsaw", 2030, 5, 11, 3, 30)).post(CHECKINS)
    morning = client_at(time_machine, user, local("Europe/Warsaw", 2030, 5, 11, 4, 0)).post(CHECKINS)

    assert night.json()["check_in"]["day"] == "2030-05-10"
    assert morning.json()["check_in"]["day"] == "2030-05-11"
    assert morning.json()["state"]["streak"] == 2
    next_start = local("Europe/Warsaw", 2030, 5, 12, 4, 0).astimezone(UTC)
    assert morning.json()["state"]["next_day_starts_at"] == next_start.isoformat().replace("+00:00", "Z")


# --- PATCH me/: the change guard and the forgiveness -------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "../etc/passwd"}, "timezone"),
        ({"day_start_hour": 24}, "day_start_hour"),
        ({"day_start_hour": -1}, "day_start_hour"),
    ],
)
def test_patch_me_when_bad_zone_or_hour_then_400_and_nothing_changes(auth_client, user, body, field):
    before = UserState.objects.filter(user=user).values().get()
    response = auth_client.patch(ME, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field in response.json()["error"]["fields"]
    assert UserState.objects.filter(user=user).values().get() == before


def test_patch_me_when_second_change_within_a_week_then_409_with_retry_at(time_machine, user):
    first_at = datetime(2030, 5, 1, 9, tzinfo=UTC)
    set_days(time_machine, user, first_at, timezone="Asia/Tokyo")  # the first change is free

    refused = client_at(time_machine, user, first_at + timedelta(days=6, hours=23)).patch(
        ME, {"day_start_hour": 5, "display_name": "Someone"}, format="json"
    )

    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "settings_change_too_soon"
    assert error["retry_at"] == "2030-05-08T09:00:00Z"
    state = UserState.objects.select_related("user").get(user=user)
    assert (state.timezone, state.day_start_hour, state.user.display_name) == (
        "Asia/Tokyo",
        0,
        user.display_name,
    )

    same = client_at(time_machine, user, first_at + timedelta(days=1)).patch(
        ME, {"timezone": "Asia/Tokyo"}, format="json"
    )
    assert same.status_code == 200  # the same value is no change
    allowed = client_at(time_machine, user, first_at + timedelta(days=7)).patch(
        ME, {"day_start_hour": 5}, format="json"
    )
    assert allowed.status_code == 200
    assert allowed.json()["state"]["day_start_hour"] == 5


def test_check_in_when_zone_changed_within_48_hours_then_streak_continues(time_machine, user):
    # Checked in on 10 May at 10:00 UTC, then moved from UTC to Pago Pago (UTC-11).
    assert (
        client_at(time_machine, user, datetime(2030, 5, 9, 10, tzinfo=UTC)).post(CHECKINS).status_code == 201
    )
    assert (
        client_at(time_machine, user, datetime(2030, 5, 10, 10, tzinfo=UTC)).post(CHECKINS).status_code == 201
    )
    set_days(time_machine, user, datetime(2030, 5, 10, 20, tzinfo=UTC), timezone="Pacific/Kiritimati")
    # In Kiritimati (UTC+14) it is already 12 May at 10:00 on 11 May 20:00 UTC: a calendar gap of 2.
    response = client_at(time_machine, user, datetime(2030, 5, 11, 20, tzinfo=UTC)).post(CHECKINS)

    assert response.status_code == 201
    assert response.json()["check_in"]["day"] == "2030-05-12"
    assert response.json()["state"]["streak"] == 3
    assert kinds(user).count("freeze_consumed") == 0
    assert_ledger_clean()


def test_check_in_when_zone_changed_more_than_48_hours_after_then_gap_counts(time_machine, user):
    assert (
        client_at(time_machine, user, datetime(2030, 5, 10, 10, tzinfo=UTC)).post(CHECKINS).status_code == 201
    )
    set_days(time_machine, user, datetime(2030, 5, 10, 20, tzinfo=UTC), timezone="Pacific/Kiritimati")
    response = client_at(time_machine, user, datetime(2030, 5, 12, 10, 1, tzinfo=UTC)).post(CHECKINS)
    assert response.json()["check_in"]["day"] == "2030-05-13"
    assert response.json()["state"]["streak"] == 1


# --- freezes: the worked example and the negative cases ------------------------------------------


def check_in_on(time_machine, user, day: int):
    response = client_at(time_machine, user, utc_day(day)).post(CHECKINS)
    assert response.status_code == 201, response.content
    return response.json()


def buy_freezes(time_machine, user, day: int, quantity: int):
    return client_at(time_machine, user, utc_day(day, 13)).post(
        f"{API}/tools/freeze/buy/", {"quantity": quantity}, format="json"
    )


def test_spec_worked_example_when_replayed_through_the_api_then_every_row_matches(
    time_machine, user, catalog
):
    for day in range(6, 11):
        body = check_in_on(time_machine, user, day)
    assert body["state"]["streak"] == 5
    adjust_state(user=user, loyalty=100, note="test budget")
    bought = buy_freezes(time_machine, user, 10, 2)
    assert bought.status_code == 201, bought.content
    state = bought.json()["state"]
    assert state["freezes_held"] == 2
    assert state["streak_expires_at"] == "2030-03-14T00:00:00Z"  # the start of day 14

    # Day 11 missed; day 12: one freeze, then the check-in (streak 6, rest recovery 10).
    fatigue_before = UserState.objects.get(user=user).fatigue
    body = check_in_on(time_machine, user, 12)
    assert body["state"]["streak"] == 6
    assert body["state"]["freezes_held"] == 1
    assert body["state"]["fatigue"] == fatigue_before - 10 + 10
    assert body["changes"]["inventory_count"] == -1
    events = list(StateEvent.objects.filter(user=user).order_by("-id")[:2])[::-1]
    assert [(e.kind, e.reference, e.inventory_count_delta) for e in events] == [
        ("freeze_consumed", "freeze:1", -1),
        ("check_in", str(body["check_in"]["id"]), 0),
    ]
    assert body["state"]["streak_expires_at"] == "2030-03-15T00:00:00Z"
    assert InventoryItem.objects.get(user=user, tool_id="freeze").quantity == 1

    # Days 13 and 14 missed; day 15: 2 missed, 1 freeze held: none consumed, streak 1.
    body = check_in_on(time_machine, user, 15)
    assert (body["state"]["streak"], body["state"]["freezes_held"]) == (1, 1)
    assert kinds(user).count("freeze_consumed") == 1
    assert body["state"]["longest_streak"] == 6

    # Day 16: the repair, before any check-in that day: 6 lost + 1 current = 7; loyalty -50.
    client = client_at(time_machine, user, utc_day(16))
    loyalty = UserState.objects.get(user=user).loyalty
    repaired = client.post(REPAIR)
    assert repaired.status_code == 200, repaired.content
    assert repaired.json()["state"]["streak"] == 7
    assert repaired.json()["state"]["longest_streak"] == 7
    repair = StateEvent.objects.filter(user=user, kind="streak_repair").get()
    assert (repair.streak_delta, repair.loyalty_delta) == (6, -50)
    claim = StateEvent.objects.filter(user=user, kind="reward_claim", reference="streak_7").get()
    assert claim.id > repair.id and claim.loyalty_delta == 25
    assert repaired.json()["state"]["loyalty"] == loyalty - 50 + 25
    assert repaired.json()["changes"]["loyalty"] == -25

    again = client.post(REPAIR)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "nothing_to_repair")
    assert_ledger_clean()


def test_check_in_when_gap_larger_than_freezes_then_none_consumed(time_machine, user, catalog):
    check_in_on(time_machine, user, 10)
    adjust_state(user=user, loyalty=100, note="test budget")
    assert buy_freezes(time_machine, user, 10, 1).status_code == 201

    body = check_in_on(time_machine, user, 13)  # days 11 and 12 missed, one freeze

    assert (body["state"]["streak"], body["state"]["freezes_held"]) == (1, 1)
    assert "freeze_consumed" not in kinds(user)
    assert InventoryItem.objects.get(user=user, tool_id="freeze").quantity == 1
    assert_ledger_clean()


def test_buy_freeze_when_two_held_then_third_refused_409(time_machine, user, catalog):
    adjust_state(user=user, loyalty=200, note="test budget")
    assert buy_freezes(time_machine, user, 10, 2).status_code == 201
    before = UserState.objects.filter(user=user).values().get()

    third = buy_freezes(time_machine, user, 10, 1)

    assert third.status_code == 409
    assert third.json()["error"]["code"] == "max_held_reached"
    assert UserState.objects.filter(user=user).values().get() == before
    rich = UserFactory()
    adjust_state(user=rich, loyalty=200, note="test budget")
    over = bearer_client(rich).post(f"{API}/tools/freeze/buy/", {"quantity": 3}, format="json")
    assert (over.status_code, over.json()["error"]["code"]) == (409, "max_held_reached")
    assert_ledger_clean()


def test_use_freeze_by_hand_then_409_not_usable_held_or_not(time_machine, user, catalog):
    client = client_at(time_machine, user, utc_day(10))
    not_held = client.post(f"{API}/inventory/freeze/use/")
    adjust_state(user=user, loyalty=100, note="test budget")
    assert buy_freezes(time_machine, user, 10, 1).status_code == 201
    before = UserState.objects.filter(user=user).values().get()

    held = bearer_client(user).post(f"{API}/inventory/freeze/use/")

    assert (not_held.status_code, not_held.json()["error"]["code"]) == (409, "not_usable")
    assert (held.status_code, held.json()["error"]["code"]) == (409, "not_usable")
    assert UserState.objects.filter(user=user).values().get() == before
    assert InventoryItem.objects.get(user=user, tool_id="freeze").quantity == 1


# --- pause --------------------------------------------------------------------------------------


def test_pause_when_14_days_then_streak_kept_and_check_in_after_continues(time_machine, user):
    for day in (1, 2, 3):
        check_in_on(time_machine, user, day)
    response = client_at(time_machine, user, utc_day(3, 18)).post(PAUSE, {"days": 14}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["pause"] == {"start_day": "2030-03-04", "end_day": "2030-03-17"}
    assert response.json()["state"]["pause"] == response.json()["pause"]
    assert response.json()["state"]["streak_expires_at"] == "2030-03-19T00:00:00Z"

    body = check_in_on(time_machine, user, 18)

    assert body["state"]["streak"] == 4
    assert "freeze_consumed" not in kinds(user)
    assert body["state"]["pause"] is None
    assert StreakPause.objects.filter(user=user).values_list("start_day", "end_day").get() == (
        date(2030, 3, 4),
        date(2030, 3, 17),
    )
    assert_ledger_clean()


def test_pause_when_check_in_during_it_then_it_ends_yesterday(time_machine, user):
    check_in_on(time_machine, user, 1)
    assert (
        client_at(time_machine, user, utc_day(1, 18)).post(PAUSE, {"days": 10}, format="json").status_code
        == 201
    )

    body = check_in_on(time_machine, user, 5)

    assert body["state"]["streak"] == 2
    assert StreakPause.objects.filter(user=user).values_list("start_day", "end_day").get() == (
        date(2030, 3, 2),
        date(2030, 3, 4),
    )
    assert body["state"]["pause"] is None


@pytest.mark.parametrize("days", [0, 15, "x", None])
def test_pause_when_days_out_of_range_then_400(auth_client, user, days):
    response = auth_client.post(PAUSE, {"days": days}, format="json")
    assert response.status_code == 400
    assert "days" in response.json()["error"]["fields"]
    assert not StreakPause.objects.exists()


def test_pause_limits_when_active_or_too_soon_then_409_and_delete_rules(time_machine, user):
    client = client_at(time_machine, user, utc_day(1))
    assert client.post(PAUSE, {"days": 3}, format="json").json()["pause"]["start_day"] == "2030-03-01"

    active = client.post(PAUSE, {"days": 3}, format="json")
    assert (active.status_code, active.json()["error"]["code"]) == (409, "pause_active")

    client = client_at(time_machine, user, utc_day(2))
    assert client.delete(PAUSE).status_code == 204  # started yesterday: it now ends yesterday
    assert StreakPause.objects.values_list("start_day", "end_day").get() == (
        date(2030, 3, 1),
        date(2030, 3, 1),
    )
    missing = client.delete(PAUSE)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "no_pause")

    too_soon = client_at(time_machine, user, utc_day(30)).post(PAUSE, {"days": 3}, format="json")
    assert (too_soon.status_code, too_soon.json()["error"]["code"]) == (409, "pause_too_soon")

    client = client_at(time_machine, user, utc_day(31))
    assert client.post(PAUSE, {"days": 3}, format="json").status_code == 201
    assert client.delete(PAUSE).status_code == 204  # started today: deleted
    assert list(StreakPause.objects.values_list("start_day", flat=True)) == [date(2030, 3, 1)]
    assert UserState.objects.get(user=user).pause_start_day is None


# --- repair and restore ---------------------------------------------------------------------------


def lose_streak(time_machine, user, *, streak: int, reset_day: int) -> None:
    for day in range(1, streak + 1):
        check_in_on(time_machine, user, day)
    check_in_on(time_machine, user, reset_day)


def test_repair_when_outside_window_or_poor_then_409_and_nothing_changes(time_machine, user):
    lose_streak(time_machine, user, streak=4, reset_day=8)
    poor = client_at(time_machine, user, utc_day(9)).post(REPAIR)
    assert (poor.status_code, poor.json()["error"]["code"]) == (409, "insufficient_loyalty")

    adjust_state(user=user, loyalty=100, note="test budget")
    before = UserState.objects.filter(user=user).values().get()
    late = client_at(time_machine, user, utc_day(12)).post(REPAIR)
    assert (late.status_code, late.json()["error"]["code"]) == (409, "nothing_to_repair")
    assert UserState.objects.filter(user=user).values().get() == before

    in_time = client_at(time_machine, user, utc_day(11)).post(REPAIR)
    assert in_time.status_code == 200
    assert in_time.json()["state"]["streak"] == 5


def test_repair_when_never_reset_then_409(auth_client):
    response = auth_client.post(REPAIR)
    assert (response.status_code, response.json()["error"]["code"]) == (409, "nothing_to_repair")


def test_restore_streak_command_when_reset_long_ago_then_restored_for_free(time_machine, user):
    lose_streak(time_machine, user, streak=4, reset_day=8)
    time_machine.move_to(utc_day(30), tick=False)
    loyalty = UserState.objects.get(user=user).loyalty
    out = StringIO()

    call_command("restore_streak", email=user.email.upper(), note="support ticket 12", stdout=out)

    state = UserState.objects.get(user=user)
    assert (state.streak, state.loyalty) == (5, loyalty)
    event = StateEvent.objects.filter(user=user).latest("id")
    assert (event.kind, event.reference, event.streak_delta) == ("adjustment", "support ticket 12", 4)
    assert "streak 1 -> 5" in out.getvalue()
    with pytest.raises(CommandError, match="no lost streak") as again:
        call_command("restore_streak", email=user.email, note="twice")
    assert again.value.returncode == 2
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("email", "note", "message"),
    [("nobody@example.com", "why", "No user"), (None, "   ", "--note")],
)
def test_restore_streak_command_when_bad_input_then_exit_2(user, email, note, message):
    with pytest.raises(CommandError, match=message) as excinfo:
        call_command("restore_streak", email=email or user.email, note=note)
    assert excinfo.value.returncode == 2
    assert not StateEvent.objects.filter(user=user).exists()


def test_admin_restore_streak_action_when_applied_then_adjustment_event(admin_client, user):
    for day in (1, 2, 3, 9):  # the admin's session lives in today's clock: history by the service
        check_in(user=user, today=date(2020, 3, day))
    other = UserFactory()
    response = admin_client.post(
        "/admin/accounts/user/",
        {
            "action": "restore_streak",
            "_selected_action": [user.pk, other.pk],
            "apply": "1",
            "note": "goodwill",
        },
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Restored" in page and "There is no lost streak to repair." in page
    assert UserState.objects.get(user=user).streak == 4
    assert StateEvent.objects.filter(user=user, kind="adjustment", reference="goodwill").count() == 1
    assert not StateEvent.objects.filter(user=other).exists()
    assert_ledger_clean()


def test_pause_when_repeated_with_the_same_idempotency_key_then_replayed_once(auth_client, user):
    first = auth_client.post(PAUSE, {"days": 2}, format="json", HTTP_IDEMPOTENCY_KEY="pause-1")
    again = auth_client.post(PAUSE, {"days": 2}, format="json", HTTP_IDEMPOTENCY_KEY="pause-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert StreakPause.objects.filter(user=user).count() == 1


def test_me_when_new_user_then_streak_status_defaults(time_machine, user):
    body = client_at(time_machine, user, datetime(2030, 5, 10, 23, 0, tzinfo=UTC)).get(ME).json()["state"]
    assert {name: body[name] for name in ("timezone", "day_start_hour", "today", "checked_in_today")} == {
        "timezone": "UTC",
        "day_start_hour": 0,
        "today": "2030-05-10",
        "checked_in_today": False,
    }
    assert body["next_day_starts_at"] == "2030-05-11T00:00:00Z"
    assert (body["streak_expires_at"], body["freezes_held"], body["pause"]) == (None, 0, None)
