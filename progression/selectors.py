"""Progression reads."""

from __future__ import annotations

from django.db.models import QuerySet

from engagement.db import fetch_by
from progression.models import DailyCheckIn, StateEvent, UserState

# The attribute of a request's user that holds the state read with it at authentication.
_AUTHENTICATED_STATE = "_state_at_authentication"


def get_state(user) -> UserState | None:
    """The user's state row, or None (a pre-built statement)."""
    return fetch_by(UserState, "user", user.pk)


def remember_state(user, state: UserState | None) -> None:
    """Keep the state read with the user at authentication (accounts.authentication), for one
    state_at_authentication() in the same request."""
    user.__dict__[_AUTHENTICATED_STATE] = state


def state_at_authentication(user) -> UserState | None:
    """The state authentication read with the user (one statement for both), else get_state().

    For a read that changes nothing first (GET me/): the row is as of this request's start.
    Taken once: a later read in the same request goes to the database, so it sees any change.
    """
    if _AUTHENTICATED_STATE in user.__dict__:
        return user.__dict__.pop(_AUTHENTICATED_STATE)
    return get_state(user)


def events_for(user) -> QuerySet[StateEvent]:
    return StateEvent.objects.filter(user_id=user.pk)


def checkins_for(user) -> QuerySet[DailyCheckIn]:
    return DailyCheckIn.objects.filter(user_id=user.pk)
