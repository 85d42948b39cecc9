"""A user's state row: ensure_state, POST me/bootstrap/, GET me/, and creation at registration."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import assert_ledger_clean
from progression.models import StateEvent, UserState
from progression.selectors import remember_state, state_at_authentication
from progression.services import ensure_state

BOOTSTRAP = "/api/v1/me/bootstrap/"
ME = "/api/v1/me/"

START = {
    "streak": 0,
    "longest_streak": 0,
    "energy": 50,
    "fatigue": 0,
    "loyalty": 0,
    "level": 1,
    "total_checkins": 0,
    "last_checkin_day": None,
    "inventory_count": 0,
    "inventory_capacity": 5,
}

pytestmark = pytest.mark.django_db


def test_ensure_state_when_called_twice_then_created_once_and_same_row(db):
    user = UserFactory(with_state=False)
    first, created_first = ensure_state(user)
    second, created_second = ensure_state(user)
    assert (created_first, created_second) == (True, False)
    assert first.pk == second.pk == user.pk
    assert UserState.objects.filter(user=user).count() == 1
    assert StateEvent.objects.count() == 0


def test_ensure_state_when_state_changed_then_returns_it_untouched(user):
    UserState.objects.filter(user=user).update(loyalty=42)
    state, created = ensure_state(user)
    assert created is False
    assert state.loyalty == 42


@pytest.mark.parametrize("make_user", ["create_user", "factory_without_state"])
def test_bootstrap_when_user_has_no_state_then_201_then_200(make_user):
    if make_user == "create_user":
        user = User.objects.create_user(email="plain@example.com", password="x-long-password-1")
    else:
        user = UserFactory(with_state=False)
    assert not UserState.objects.filter(user=user).exists()
    client = bearer_client(user)
    assert client.get(ME).json()["state"] is None

    first = client.post(BOOTSTRAP)
    assert first.status_code == 201
    assert first.json()["state"].items() >= START.items()
    assert first.json()["user"]["email"] == user.email
    second = client.post(BOOTSTRAP)
    assert second.status_code == 200
    assert second.json() == first.json()
    assert UserState.objects.filter(user=user).count() == 1
    assert client.get(ME).json()["state"].items() >= START.items()
    assert_ledger_clean()


def test_bootstrap_when_state_exists_then_200_and_state_unchanged(auth_client, user):
    UserState.objects.filter(user=user).update(streak=2, longest_streak=2)
    response = auth_client.post(BOOTSTRAP)
    assert response.status_code == 200
    assert response.json()["state"]["streak"] == 2


def test_bootstrap_when_unauthenticated_then_401(api_client):
    response = api_client.post(BOOTSTRAP)
    assert response.status_code == 401
    assert "error" in response.json()


def test_register_when_through_api_then_state_created_with_start_values(api_client):
    response = api_client.post(
        "/api/v1/auth/register/",
        {"email": "New.Person@Example.com", "password": "correct-horse-battery-9"},
        format="json",
    )
    assert response.status_code == 201, response.content
    user = User.objects.get(email="new.person@example.com")
    assert UserState.objects.filter(user=user).count() == 1

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access']}")
    me = api_client.get(ME)
    assert me.status_code == 200
    assert me.json()["state"].items() >= START.items()
    assert api_client.post(BOOTSTRAP).status_code == 200
    assert_ledger_clean()


def test_me_when_authenticated_then_user_and_state(auth_client, user):
    body = auth_client.get(ME).json()
    assert set(body) == {"user", "state"}
    assert body["user"]["email"] == user.email
    assert body["state"].items() >= START.items()


def test_me_when_state_changes_between_requests_then_each_answer_has_the_stored_values(auth_client, user):
    # GET me/ renders the state read with the user at authentication: the row as of that request.
    assert auth_client.get(ME).json()["state"]["energy"] == START["energy"]
    UserState.objects.filter(user=user).update(energy=11, loyalty=29)

    state = auth_client.get(ME).json()["state"]

    assert (state["energy"], state["loyalty"]) == (11, 29)


def test_me_when_user_has_no_state_then_state_null():
    user = UserFactory()
    UserState.objects.filter(user=user).delete()

    response = bearer_client(user).get(ME)

    assert response.status_code == 200
    assert response.json()["state"] is None


def test_state_at_authentication_when_taken_then_later_reads_go_to_the_database(user):
    remember_state(user, UserState.objects.get(user=user))
    UserState.objects.filter(user=user).update(energy=3)

    assert state_at_authentication(user).energy == START["energy"]  # the remembered row, once
    assert state_at_authentication(user).energy == 3  # then the stored one
