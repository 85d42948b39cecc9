"""OWASP API Top 10 checks: object-level authorization, mass assignment, resource limits, JWT."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import assert_error, assert_ledger_clean, run_in_threads
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state, check_in
from rewards.models import UserReward

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
EVENTS = "/api/v1/me/events/"
CHECKINS = "/api/v1/checkins/"
INVENTORY = "/api/v1/inventory/"
REWARDS = "/api/v1/rewards/"
REGISTER = "/api/v1/auth/register/"
REFRESH = "/api/v1/auth/token/refresh/"
BUY_COFFEE = "/api/v1/tools/coffee/buy/"
PASSWORD = "plum-orbit-castle-71"
STATE_FIELDS = {
    "streak": 99,
    "longest_streak": 99,
    "energy": 99,
    "fatigue": 0,
    "loyalty": 100000,
    "level": 50,
    "total_checkins": 99,
    "inventory_count": 0,
    "inventory_capacity": 1000,
    "last_checkin_day": "2000-01-01",
}


def state_of(user) -> dict:
    state = UserState.objects.get(user=user)
    return {name: getattr(state, name) for name in STATE_FIELDS}


@pytest.fixture
def alice(catalog):
    """A user with history of every kind: check-ins, a streak reward, a purchase, an adjustment."""
    user = UserFactory(email="alice@example.com", display_name="Alice")
    today = timezone.now().date()
    for days_ago in (3, 2, 1):
        check_in(user=user, today=today - timedelta(days=days_ago))
    adjust_state(user=user, note="alice-secret-note", loyalty=40)
    client = bearer_client(user)
    assert client.post(BUY_COFFEE, {"quantity": 2}, format="json").status_code == 201
    assert client.post(CHECKINS).status_code == 201
    return user


# --- API1 broken object-level authorization ---------------------------------------------


def test_no_route_takes_an_object_id_other_than_a_catalog_slug():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    names = {
        parameter["name"]
        for operations in schema["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    }

    assert names == {"slug"}


def test_another_users_every_read_shows_none_of_alices_data(alice):
    bob = UserFactory(email="bob@example.com")
    client = bearer_client(bob)
    alice_markers = [alice.email, str(alice.pk), "alice-secret-note", "Alice"]

    reads = {path: client.get(path) for path in (ME, EVENTS, CHECKINS, INVENTORY, REWARDS)}

    for path, response in reads.items():
        assert response.status_code == 200, (path, response.content)
        text = response.content.decode()
        for marker in alice_markers:
            assert marker not in text, (path, marker)
    assert reads[ME].json()["user"]["email"] == "bob@example.com"
    assert reads[EVENTS].json()["results"] == []
    assert reads[CHECKINS].json()["results"] == []
    assert reads[INVENTORY].json()["items"] == []
    assert {r["status"] for r in reads[REWARDS].json()} == {"locked"}


def test_cursor_from_alices_list_pages_only_the_callers_own_events(alice):
    for n in range(25):
        adjust_state(user=alice, note=f"n{n}", loyalty=1)
    next_link = bearer_client(alice).get(EVENTS).json()["next"]
    assert next_link
    bob = UserFactory()
    adjust_state(user=bob, note="bob's only event", loyalty=1)

    page = bearer_client(bob).get(next_link).json()

    assert {e["reference"] for e in page["results"]} <= {"bob's only event"}


def test_another_user_cannot_use_alices_item(alice):
    bob = UserFactory()
    bob_before = state_of(bob)

    response = bearer_client(bob).post("/api/v1/inventory/coffee/use/")

    assert_error(response, 409, "not_in_inventory")
    assert InventoryItem.objects.get(user=alice, tool_id="coffee").quantity == 2
    assert state_of(bob) == bob_before
    assert_ledger_clean()


def test_another_user_cannot_claim_alices_unlocked_reward(alice):
    assert UserReward.objects.filter(user=alice, reward_id="streak_3", claimed_at__isnull=True).exists()
    bob = UserFactory()

    response = bearer_client(bob).post("/api/v1/rewards/streak_3/claim/")

    assert_error(response, 409, "reward_locked")
    assert UserReward.objects.get(user=alice, reward_id="streak_3").claimed_at is None
    assert not UserReward.objects.filter(user=bob).exists()


def test_patch_me_changes_only_the_caller(alice):
    bob = UserFactory(display_name="Bob")

    response = bearer_client(bob).patch(ME, {"display_name": "Robert"}, format="json")

    assert response.status_code == 200
    assert User.objects.get(pk=bob.pk).display_name == "Robert"
    assert User.objects.get(pk=alice.pk).display_name == "Alice"


# --- API3/API6 mass assignment ------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        {"email": "new@example.com"},
        {"id": "00000000-0000-0000-0000-000000000001"},
        {"is_staff": True},
        {"is_superuser": True},
        {"is_active": False},
        {"password": "another-password-77"},
        {"date_joined": "2000-01-01T00:00:00Z"},
        {"state": {"loyalty": 100000}},
        {"loyalty": 100000},
        {"level": 50},
    ],
    ids=lambda extra: next(iter(extra)),
)
def test_patch_me_with_read_only_or_unknown_field_returns_400_and_changes_nothing(auth_client, user, extra):
    before = state_of(user)

    response = auth_client.patch(ME, {"display_name": "Kim", **extra}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(extra)
    fresh = User.objects.get(pk=user.pk)
    assert (fresh.email, fresh.display_name, fresh.is_staff, fresh.is_active) == (
        user.email,
        user.display_name,
        False,
        True,
    )
    assert state_of(user) == before


@pytest.mark.parametrize(
    "extra",
    [{"is_staff": True}, {"is_superuser": True}, {"is_active": False}, {"id": "x"}, {"loyalty": 1000}],
    ids=lambda extra: next(iter(extra)),
)
def test_register_with_privileged_or_state_field_returns_400_and_creates_no_user(api_client, extra):
    response = api_client.post(
        REGISTER, {"email": "eve@example.com", "password": PASSWORD, **extra}, format="json"
    )

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == set(extra)
    assert not User.objects.filter(email="eve@example.com").exists()


@pytest.mark.parametrize("extra", [{"price": 0}, {"loyalty": 1000}, {"tool": "focus"}, {"user": "x"}])
def test_buy_with_unknown_field_returns_400_and_buys_nothing(auth_client, user, catalog, extra):
    adjust_state(user=user, note="budget", loyalty=50)

    response = auth_client.post(BUY_COFFEE, {"quantity": 1, **extra}, format="json")

    assert_error(response, 400, "validation_error")
    assert not InventoryItem.objects.filter(user=user).exists()
    assert UserState.objects.get(user=user).loyalty == 50


@pytest.mark.parametrize(
    ("path", "setup"),
    [
        (CHECKINS, None),
        ("/api/v1/me/bootstrap/", None),
        ("/api/v1/inventory/coffee/use/", "coffee"),
        ("/api/v1/rewards/streak_3/claim/", "streak"),
    ],
    ids=["checkin", "bootstrap", "use", "claim"],
)
def test_state_fields_in_a_body_less_post_return_400_and_change_nothing(
    auth_client, user, catalog, path, setup
):
    if setup == "coffee":
        adjust_state(user=user, note="budget", loyalty=10)
        assert auth_client.post(BUY_COFFEE, {"quantity": 1}, format="json").status_code == 201
    if setup == "streak":
        today = timezone.now().date()
        for days_ago in (3, 2, 1):
            check_in(user=user, today=today - timedelta(days=days_ago))
    before = state_of(user)

    events_before = StateEvent.objects.filter(user=user).count()

    response = auth_client.post(path, STATE_FIELDS, format="json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["fields"]) == set(STATE_FIELDS)
    assert state_of(user) == before
    assert StateEvent.objects.filter(user=user).count() == events_before
    assert_ledger_clean()


# --- API4 unrestricted resource consumption -------------------------------------------------


def test_events_page_size_is_capped_at_100(auth_client, user):
    for n in range(105):
        adjust_state(user=user, note=f"n{n}", loyalty=1)

    page = auth_client.get(EVENTS, {"page_size": 100000}).json()

    assert len(page["results"]) == 100
    assert page["next"]


def test_checkins_page_size_is_capped_at_100(auth_client, user):
    today = timezone.now().date()
    DailyCheckIn.objects.bulk_create(
        [DailyCheckIn(user=user, day=today - timedelta(days=n)) for n in range(1, 106)]
    )

    page = auth_client.get(CHECKINS, {"page_size": 101}).json()

    assert len(page["results"]) == 100
    assert page["next"]


@pytest.mark.parametrize("path", [EVENTS, CHECKINS])
@pytest.mark.parametrize("page_size", ["0", "-5", "abc", "1e9", "", "null", "5.0", " 5", "+5", "05"])
def test_list_invalid_page_size_returns_400_naming_it(auth_client, user, path, page_size):
    adjust_state(user=user, note="one event", loyalty=1)

    response = auth_client.get(path, {"page_size": page_size})

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"page_size"}


@pytest.mark.parametrize("path", [EVENTS, CHECKINS])
@pytest.mark.parametrize(
    "query", ["page_size=5&page_size=5", "page_size=null&page_size=null", "cursor=&cursor="]
)
def test_list_paging_parameter_given_twice_returns_400_naming_it(auth_client, user, path, query):
    response = auth_client.get(f"{path}?{query}")

    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {query.split("=")[0]}


def test_events_valid_page_size_returns_that_many(auth_client, user):
    for n in range(25):
        adjust_state(user=user, note=f"n{n}", loyalty=1)

    page = auth_client.get(EVENTS, {"page_size": "7"}).json()

    assert len(page["results"]) == 7
    assert "page_size=7" in page["next"]


@pytest.mark.parametrize("quantity", [0, -1, 6, 10**12, "abc", "1", 1.0, 1.5, True, None, [1], {"n": 1}])
def test_buy_quantity_outside_1_to_capacity_returns_400_and_buys_nothing(
    auth_client, user, catalog, quantity
):
    adjust_state(user=user, note="budget", loyalty=1000)

    response = auth_client.post(BUY_COFFEE, {"quantity": quantity}, format="json")

    error = assert_error(response, 400, "validation_error")
    assert "quantity" in error["fields"]
    assert not InventoryItem.objects.filter(user=user).exists()
    assert UserState.objects.get(user=user).loyalty == 1000


def test_buy_quantity_equal_to_capacity_is_accepted(auth_client, user, catalog):
    adjust_state(user=user, note="budget", loyalty=1000)

    response = auth_client.post(BUY_COFFEE, {"quantity": 5}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["item"]["quantity"] == 5
    assert_ledger_clean()


@pytest.mark.parametrize("key", [None, "nested"], ids=["no-key", "with-key"])
@pytest.mark.parametrize("path", [BUY_COFFEE, REGISTER], ids=["buy", "register"])
def test_json_nested_deeper_than_python_recursion_returns_400_parse_error(auth_client, catalog, path, key):
    body = "[" * 40000 + "]" * 40000
    assert len(body) <= settings.MAX_REQUEST_BODY_BYTES
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}

    response = auth_client.post(path, body, content_type="application/json", **extra)

    assert_error(response, 400, "parse_error")
    assert "Traceback" not in response.content.decode()


def test_body_over_the_cap_on_an_idempotent_route_returns_413_and_stores_no_key(auth_client, user, catalog):
    from engagement.models import IdempotencyKey

    body = json.dumps({"quantity": 1, "pad": "x" * settings.MAX_REQUEST_BODY_BYTES})

    response = auth_client.post(BUY_COFFEE, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="big")

    assert_error(response, 413, "request_too_large")
    assert not IdempotencyKey.objects.exists()


# --- API2 broken authentication: JWT attacks are in accounts/tests/test_authentication.py -----


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_refresh_token_rotated_concurrently_yields_one_new_pair(user):
    """Rotation blacklists the old refresh token: a replayed token must not fork the session."""
    refresh = str(RefreshToken.for_user(user))
    count = 10

    def rotate(_: int) -> int:
        return APIClient().post(REFRESH, {"refresh": refresh}, format="json").status_code

    statuses = run_in_threads(count, rotate)

    assert sorted(statuses) == [200] + [401] * (count - 1), statuses
