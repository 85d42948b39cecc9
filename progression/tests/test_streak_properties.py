"""Property: whatever the days, zones, purchases, pauses and repairs, the ledger replays the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from engagement.errors import DomainError
from engagement.testing import examples
from inventory.services import buy_tool, seed_tools
from progression import services
from progression.models import DailyCheckIn, UserState

pytestmark = pytest.mark.django_db

ZONES = [
    "UTC",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Warsaw",
    "America/New_York",
    "Asia/Kolkata",
]
START = datetime(2030, 3, 1, 7, 0, tzinfo=UTC)

actions = st.one_of(
    st.tuples(st.just("check_in")),
    st.tuples(st.just("buy_freeze"), st.integers(1, 2)),
    st.tuples(st.just("pause"), st.integers(1, 14)),
    st.tuples(st.just("end_pause")),
    st.tuples(st.just("repair")),
    st.tuples(st.just("settings"), st.sampled_from(ZONES), st.sampled_from([0, 4, 23])),
)
steps = st.lists(st.tuples(st.integers(1, 80), actions), min_size=1, max_size=25)


def _run(user, action: tuple, now: datetime) -> None:
    name = action[0]
    if name == "check_in":
        services.check_in(user=user, now=now)
    elif name == "buy_freeze":
        buy_tool(user=user, slug="freeze", quantity=action[1])
    elif name == "pause":
        services.schedule_pause(user=user, days=action[1], now=now)
    elif name == "end_pause":
        services.end_pause(user=user, now=now)
    elif name == "repair":
        services.repair_streak(user=user, now=now)
    else:
        services.change_day_settings(user=user, timezone_name=action[1], day_start_hour=action[2], now=now)


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(zone=st.sampled_from(ZONES), hour=st.sampled_from([0, 4]), plan=steps)
def test_random_days_when_replayed_then_state_equals_ledger_and_streak_bounded(db, zone, hour, plan):
    seed_tools()
    user = UserFactory()
    now = START
    services.change_day_settings(user=user, timezone_name=zone, day_start_hour=hour, now=now)
    services.adjust_state(user=user, loyalty=1000, note="test budget")
    for hours, action in plan:
        now += timedelta(hours=hours)
        before = UserState.objects.filter(user=user).values().get()
        try:
            _run(user, action, now)
        except DomainError:
            assert UserState.objects.filter(user=user).values().get() == before  # a refusal changes nothing

    report = verify_ledger()
    assert report.ok, report.mismatches
    state = UserState.objects.get(user=user)
    days = list(DailyCheckIn.objects.filter(user=user).order_by("day").values_list("day", flat=True))
    if days:
        assert state.streak <= (days[-1] - days[0]).days + 1
        assert state.streak <= state.total_checkins == len(days)
    else:
        assert state.streak == 0
