"""Progression reads."""

from __future__ import annotations

from django.db.models import QuerySet

from engagement.db import fetch_by
from progression.models import DailyCheckIn, StateEvent, UserState


def get_state(user) -> UserState | None:
    """The user's state row, or None (every GET me/ reads it: a pre-built statement)."""
    return fetch_by(UserState, "user", user.pk)


def events_for(user) -> QuerySet[StateEvent]:
    return StateEvent.objects.filter(user_id=user.pk)


def checkins_for(user) -> QuerySet[DailyCheckIn]:
    return DailyCheckIn.objects.filter(user_id=user.pk)
