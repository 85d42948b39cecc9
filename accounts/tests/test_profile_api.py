"""GET and PATCH me/: the profile is readable, only display_name is writable."""

import pytest

from accounts.models import User
from engagement.testing import assert_error, assert_ledger_clean
from progression.models import StateEvent, UserState

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def _snapshot(user) -> tuple:
    fresh = User.objects.get(pk=user.pk)
    state = UserState.objects.filter(user=user).values().get()
    return fresh.email, fresh.display_name, fresh.is_staff, state, StateEvent.objects.count()


def test_me_get_returns_user_and_state(auth_client, user):
    response = auth_client.get(ME)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "state"}
    assert body["user"] == {
        "id": str(user.pk),
        "email": user.email,
        "display_name": user.display_name,
        "leaderboard_visible": True,
        "date_joined": body["user"]["date_joined"],
    }
    assert body["state"]["energy"] == 50
    assert body["state"]["loyalty"] == 0
    assert "password" not in response.content.decode()


def test_me_get_other_user_data_never_visible(auth_client, user):
    from accounts.tests.factories import UserFactory

    other = UserFactory(display_name="Someone Else")

    body = auth_client.get(ME).json()

    assert body["user"]["id"] == str(user.pk)
    assert other.email not in str(body)


def test_me_patch_display_name_updates_and_returns_it(auth_client, user):
    before = _snapshot(user)

    response = auth_client.patch(ME, {"display_name": "New Name"}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["user"]["display_name"] == "New Name"
    assert response.json()["state"]["energy"] == before[3]["energy"]
    user.refresh_from_db()
    assert user.display_name == "New Name"
    assert _snapshot(user)[3] == before[3]  # the state is not touched
    assert_ledger_clean()


def test_me_patch_blank_display_name_allowed(auth_client, user):
    response = auth_client.patch(ME, {"display_name": ""}, format="json")

    assert response.status_code == 200, response.content
    user.refresh_from_db()
    assert user.display_name == ""


def _patch_refused(client, user, payload) -> dict:
    """PATCH me/ with `payload`: a 400 validation_error that changed nothing; the error object."""
    before = _snapshot(user)

    response = client.patch(ME, payload, format="json")

    error = assert_error(response, 400, "validation_error")
    assert _snapshot(user) == before
    return error


@pytest.mark.parametrize(
    "payload",
    [
        {"email": "new@example.com"},
        {"loyalty": 1000},
        {"energy": 100},
        {"id": "00000000-0000-0000-0000-000000000000"},
        {"is_staff": True},
        {"password": "a-new-password-99"},
        {"display_name": "Okay", "email": "new@example.com"},
        {"display_name": "Okay", "loyalty": 1000},
        {"display_name": "Okay", "state": {"energy": 100}},
    ],
)
def test_me_patch_unknown_or_read_only_field_returns_400_and_changes_nothing(auth_client, user, payload):
    error = _patch_refused(auth_client, user, payload)

    assert set(payload) - {"display_name"} <= set(error["fields"])


@pytest.mark.parametrize(
    "payload",
    [
        {"display_name": "x" * 65},
        {"display_name": "x" + " " * 64},  # 65 characters sent, whatever trimming would leave
        {"display_name": None},
        {"display_name": "nul\u0000byte"},
        ["display_name"],
        # A JSON number or boolean is not a string: refused, never stored as "0".
        {"display_name": 0},
        {"display_name": 1.5},
        {"display_name": True},
        {"display_name": ["Ann"]},
        {"display_name": {"first": "Ann"}},
    ],
)
def test_me_patch_invalid_display_name_returns_400_and_changes_nothing(auth_client, user, payload):
    error = _patch_refused(auth_client, user, payload)

    if isinstance(payload, dict):
        assert set(error["fields"]) == {"display_name"}


@pytest.mark.parametrize("body", [{}, None])
def test_me_patch_empty_returns_200_with_the_profile_and_changes_nothing(auth_client, user, body):
    user.display_name = "Kept"
    user.save()
    before = _snapshot(user)

    response = auth_client.patch(ME, body, format="json") if body is not None else auth_client.patch(ME)

    assert response.status_code == 200, response.content
    assert response.json()["user"]["display_name"] == "Kept"
    assert response.json()["state"]["energy"] == before[3]["energy"]
    assert _snapshot(user) == before
    assert_ledger_clean()


def test_me_patch_input_every_field_optional():
    """Fields other features add to PATCH me/ are optional too: an empty PATCH stays a no-op."""
    from accounts.api.serializers import ProfileUpdateInputSerializer

    fields = ProfileUpdateInputSerializer().fields
    assert fields
    assert [name for name, field in fields.items() if field.required] == []


def test_me_get_and_patch_stay_within_query_budget(auth_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(2):  # the user (authentication) and the state
        assert auth_client.get(ME).status_code == 200
    with django_assert_max_num_queries(3):
        assert auth_client.patch(ME, {"display_name": "Budget"}, format="json").status_code == 200
    with django_assert_max_num_queries(2):  # an empty PATCH writes nothing
        assert auth_client.patch(ME, {}, format="json").status_code == 200
