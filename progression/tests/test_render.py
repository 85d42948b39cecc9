"""The hand-written renderers of the hot paths equal their serializers' output."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from rest_framework.renderers import JSONRenderer

from accounts.tests.factories import UserFactory
from progression.api import serializers as s
from progression.models import UserState
from progression.rules import State
from progression.services import check_in

pytestmark = pytest.mark.django_db

DAY = date(2031, 1, 1)


def _json(data) -> object:
    """As the client reads it: rendered by DRF's JSON renderer, parsed back."""
    return json.loads(JSONRenderer().render(data))


@pytest.mark.parametrize(
    "state",
    [State(), State(streak=3, longest_streak=9, energy=0, level=4, last_checkin_day=DAY), None],
    ids=["start", "values", "none"],
)
def test_state_data_when_rules_state_then_equals_state_serializer(state):
    expected = None if state is None else s.StateSerializer(state).data
    assert s.state_data(state) == expected


def test_state_data_and_me_data_when_stored_state_then_equal_serializers(user):
    check_in(user=user, today=DAY)
    state = UserState.objects.get(user=user)
    assert s.state_data(state) == s.StateSerializer(state).data
    assert _json(s.me_data(user, state)) == _json(s.MeSerializer({"user": user, "state": state}).data)


def test_me_data_when_no_state_then_equals_serializer():
    user = UserFactory(with_state=False)
    assert _json(s.me_data(user, None)) == _json(s.MeSerializer({"user": user, "state": None}).data)


def test_check_in_result_data_when_rewards_unlock_and_auto_claim_then_equals_serializer(user, catalog):
    results = [check_in(user=user, today=DAY + timedelta(days=n)) for n in range(7)]
    assert results[2].change.unlocked_rewards  # streak_3 unlocks
    assert any(r.claimed for r in results[6].change.unlocked_rewards)  # streak_7 is auto-claimed
    for result in results:
        assert _json(s.check_in_result_data(result)) == _json(s.CheckInResultSerializer(result).data)
