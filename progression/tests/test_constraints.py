"""The database refuses out-of-bounds state even when the services are bypassed."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from progression.models import DailyCheckIn, UserState

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("values", "constraint"),
    [
        ({"energy": 101}, "progression_userstate_energy_range"),
        ({"energy": -1}, "progression_userstate_energy_range"),
        ({"fatigue": 101}, "progression_userstate_fatigue_range"),
        ({"fatigue": -1}, "progression_userstate_fatigue_range"),
        ({"loyalty": -1}, "progression_userstate_loyalty_nonneg"),
        ({"streak": -1, "longest_streak": 0}, "progression_userstate_streak_nonneg"),
        ({"streak": 3, "longest_streak": 2}, "progression_userstate_longest_streak_gte_streak"),
        ({"level": 0}, "progression_userstate_level_min"),
        ({"total_checkins": -1}, "progression_userstate_total_checkins_nonneg"),
        ({"inventory_count": 6}, "progression_userstate_inventory_within_capacity"),
        ({"inventory_count": -1}, "progression_userstate_inventory_within_capacity"),
        ({"inventory_count": 3, "inventory_capacity": 2}, "progression_userstate_inventory_within_capacity"),
        ({"day_start_hour": 24}, "progression_userstate_day_start_hour_range"),
        ({"day_start_hour": -1}, "progression_userstate_day_start_hour_range"),
        ({"freezes_held": 1}, "progression_userstate_freezes_within_inventory"),
        ({"freezes_held": -1}, "progression_userstate_freezes_within_inventory"),
        ({"pause_start_day": date(2030, 3, 2)}, "progression_userstate_pause_days"),
        (
            {"pause_start_day": date(2030, 3, 2), "pause_end_day": date(2030, 3, 1)},
            "progression_userstate_pause_days",
        ),
    ],
    ids=lambda v: (
        ",".join(f"{k}={n}" for k, n in v.items()) if isinstance(v, dict) else v.removeprefix("progression_")
    ),
)
@pytest.mark.parametrize("write", ["save", "update"])
def test_user_state_when_written_out_of_bounds_then_database_refuses(user, values, constraint, write):
    before = UserState.objects.values().get(user=user)
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        if write == "save":
            state = UserState.objects.get(user=user)
            for name, value in values.items():
                setattr(state, name, value)
            state.save()
        else:
            UserState.objects.filter(user=user).update(**values)
    assert constraint in str(excinfo.value)
    assert UserState.objects.values().get(user=user) == before


def test_user_state_when_created_out_of_bounds_then_database_refuses(db):
    from accounts.tests.factories import UserFactory

    user = UserFactory(with_state=False)
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        UserState.objects.create(user=user, energy=150)
    assert "progression_userstate_energy_range" in str(excinfo.value)
    assert not UserState.objects.filter(user=user).exists()


@pytest.mark.parametrize(
    "values",
    [
        {"energy": 0, "fatigue": 0, "loyalty": 0, "level": 1},
        {"energy": 100, "fatigue": 100, "loyalty": 10**6, "level": 10**4},
        {"streak": 4, "longest_streak": 4},
        {"streak": 0, "longest_streak": 9},
        {"inventory_count": 5},
        {"inventory_count": 0, "inventory_capacity": 0},
    ],
)
def test_user_state_when_written_at_the_bounds_then_accepted(user, values):
    with transaction.atomic():
        UserState.objects.filter(user=user).update(**values)
    stored = UserState.objects.values(*values).get(user=user)
    assert stored == values


def test_daily_check_in_when_same_user_and_day_twice_then_database_refuses(user):
    DailyCheckIn.objects.create(user=user, day=date(2030, 3, 1))
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        DailyCheckIn.objects.create(user=user, day=date(2030, 3, 1))
    # PostgreSQL names the constraint; SQLite names its columns.
    assert any(
        name in str(excinfo.value)
        for name in ("progression_dailycheckin_one_per_day", "progression_dailycheckin.user_id")
    )
    assert DailyCheckIn.objects.filter(user=user).count() == 1


def test_daily_check_in_when_other_day_or_other_user_then_accepted(user):
    from accounts.tests.factories import UserFactory

    DailyCheckIn.objects.create(user=user, day=date(2030, 3, 1))
    DailyCheckIn.objects.create(user=user, day=date(2030, 3, 2))
    DailyCheckIn.objects.create(user=UserFactory(), day=date(2030, 3, 1))
    assert DailyCheckIn.objects.count() == 3


def test_user_state_when_new_fields_in_bounds_then_accepted(user):
    UserState.objects.filter(user=user).update(
        day_start_hour=23,
        inventory_count=2,
        freezes_held=2,
        pause_start_day=date(2030, 3, 2),
        pause_end_day=date(2030, 3, 2),
    )
    assert UserState.objects.get(user=user).freezes_held == 2


def test_streak_pause_when_end_before_start_then_database_refuses(user):
    from progression.models import StreakPause

    StreakPause.objects.create(user=user, start_day=date(2030, 3, 2), end_day=date(2030, 3, 2))
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        StreakPause.objects.create(user=user, start_day=date(2030, 4, 2), end_day=date(2030, 4, 1))
    assert "progression_streakpause_end_after_start" in str(excinfo.value)
    assert StreakPause.objects.filter(user=user).count() == 1
