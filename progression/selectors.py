"""Progression reads."""

from __future__ import annotations

from django.db.models import QuerySet

from progression.models import DailyCheckIn, StateEvent, UserState


def get_state(user) -> UserState | None:
    return UserState.objects.filter(user_id=user.pk).first()


def events_for(user) -> QuerySet[StateEvent]:
    return StateEvent.objects.filter(user_id=user.pk)


def checkins_for(user) -> QuerySet[DailyCheckIn]:
    return DailyCheckIn.objects.filter(user_id=user.pk)
