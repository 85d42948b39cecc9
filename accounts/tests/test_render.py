"""The hand-written user renderer equals the serializer's output."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounts.api.serializers import UserOutputSerializer, user_data
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"display_name": "", "leaderboard_visible": False},
        {"display_name": "Zoë 🌱", "date_joined": datetime(2030, 6, 1, 12, 30, 5, 123456, tzinfo=UTC)},
        {"date_joined": datetime(2030, 1, 1, tzinfo=UTC)},
    ],
    ids=["factory", "hidden-no-name", "unicode-micro", "midnight"],
)
def test_user_data_when_any_user_then_equals_user_output_serializer(fields):
    user = UserFactory(**fields)
    user.refresh_from_db()
    assert user_data(user) == UserOutputSerializer(user).data
