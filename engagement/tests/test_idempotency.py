"""Idempotency-Key on the state-changing POSTs: replay, reuse, scope, concurrency and expiry."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import UntypedToken

from accounts.models import User
from accounts.tests.factories import UserFactory, bearer_client
from engagement.idempotency import purge_expired
from engagement.models import IdempotencyKey
from engagement.testing import assert_error, assert_ledger_clean, run_in_threads
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.services import adjust_state

pytestmark = pytest.mark.django_db

CHECKINS = "/api/v1/checkins/"
REGISTER = "/api/v1/auth/register/"
BOOTSTRAP = "/api/v1/me/bootstrap/"
BUY_COFFEE = "/api/v1/tools/coffee/buy/"
BUY_REST = "/api/v1/tools/rest/buy/"
REPLAYED = "Idempotent-Replayed"


def post(client, path, data=None, *, key=None, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, data, format="json", **extra)


def give_loyalty(user, amount: int) -> None:
    adjust_state(user=user, note="test grant", loyalty=amount)


# --- replay ------------------------------------------------------------------


def test_checkin_same_key_twice_replays_first_201_and_checks_in_once(auth_client, user):
    first = post(auth_client, CHECKINS, key="checkin-1")
    second = post(auth_client, CHECKINS, key="checkin-1")

    assert first.status_code == 201, first.content
    assert REPLAYED not in first
    assert second.status_code == 201, second.content
    assert second[REPLAYED] == "true"
    assert second.content == first.content
    assert second["Content-Type"] == "application/json"
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert StateEvent.objects.filter(user=user, kind=EventKind.CHECK_IN).count() == 1
    assert UserState.objects.get(user=user).loyalty == 5
    assert_ledger_clean()


def test_checkin_twice_without_key_second_returns_409_already_checked_in(auth_client, user):
    assert post(auth_client, CHECKINS).status_code == 201

    response = post(auth_client, CHECKINS)

    assert_error(response, 409, "already_checked_in")
    assert REPLAYED not in response
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert IdempotencyKey.objects.count() == 0


def test_checkin_new_key_after_keyed_checkin_executes_and_returns_409(auth_client, user):
    assert post(auth_client, CHECKINS, key="a").status_code == 201

    response = post(auth_client, CHECKINS, key="b")

    assert_error(response, 409, "already_checked_in")
    assert REPLAYED not in response


def test_buy_same_json_spelled_differently_is_the_same_request_and_replays(auth_client, user, catalog):
    give_loyalty(user, 30)
    first = auth_client.post(
        BUY_COFFEE, '{"quantity": 1}', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    second = auth_client.post(
        BUY_COFFEE, '{ "quantity":1 }', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert first.status_code == 201, first.content
    assert second.status_code == 201
    assert second[REPLAYED] == "true"
    assert second.content == first.content
    assert InventoryItem.objects.get(user=user).quantity == 1
    assert UserState.objects.get(user=user).loyalty == 20


# --- reuse for a different request ------------------------------------------


def test_buy_key_reused_with_different_body_returns_422_and_buys_once(auth_client, user, catalog):
    give_loyalty(user, 100)
    assert post(auth_client, BUY_COFFEE, {"quantity": 1}, key="k").status_code == 201

    response = post(auth_client, BUY_COFFEE, {"quantity": 2}, key="k")

    assert_error(response, 422, "idempotency_key_reused")
    assert InventoryItem.objects.get(user=user).quantity == 1
    assert UserState.objects.get(user=user).loyalty == 90
    assert StateEvent.objects.filter(user=user, kind=EventKind.TOOL_PURCHASE).count() == 1
    assert_ledger_clean()


def test_key_reused_on_a_different_path_returns_422_and_does_nothing(auth_client, user, catalog):
    give_loyalty(user, 100)
    assert post(auth_client, BUY_COFFEE, {"quantity": 1}, key="k").status_code == 201

    response = post(auth_client, BUY_REST, {"quantity": 1}, key="k")

    assert_error(response, 422, "idempotency_key_reused")
    assert not InventoryItem.objects.filter(user=user, tool_id="rest").exists()
    assert UserState.objects.get(user=user).loyalty == 90


# --- concurrency -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_buy_ten_concurrent_duplicates_one_key_execute_once_and_answer_identically(user, catalog):
    give_loyalty(user, 100)
    threads_count = 10
    clients = [bearer_client(user) for _ in range(threads_count)]

    responses = run_in_threads(
        threads_count, lambda i: post(clients[i], BUY_COFFEE, {"quantity": 1}, key="one-buy"), timeout=60
    )

    assert [r.status_code for r in responses] == [201] * threads_count, [r.content for r in responses]
    assert len({r.content for r in responses}) == 1
    assert sum(1 for r in responses if r.get(REPLAYED) == "true") == threads_count - 1
    assert StateEvent.objects.filter(user=user, kind=EventKind.TOOL_PURCHASE).count() == 1
    assert InventoryItem.objects.get(user=user).quantity == 1
    state = UserState.objects.get(user=user)
    assert (state.loyalty, state.inventory_count) == (90, 1)
    assert IdempotencyKey.objects.get(key="one-buy").status_code == 201
    assert_ledger_clean()


# --- the key itself ------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "\x01", "a\tb", "with space", "", "ключ", "line\nbreak", "del\x7f"],
    ids=["256-chars", "control-01", "tab", "space", "empty", "non-ascii", "newline", "del"],
)
def test_checkin_invalid_key_returns_400_invalid_idempotency_key_and_does_nothing(auth_client, user, key):
    response = post(auth_client, CHECKINS, key=key)

    assert_error(response, 400, "invalid_idempotency_key")
    assert not DailyCheckIn.objects.filter(user=user).exists()
    assert IdempotencyKey.objects.count() == 0


def test_checkin_key_of_255_visible_chars_is_accepted_and_replays(auth_client, user):
    key = ("!~" * 128)[:255]

    first = post(auth_client, CHECKINS, key=key)
    second = post(auth_client, CHECKINS, key=key)

    assert first.status_code == 201, first.content
    assert second[REPLAYED] == "true"
    assert second.content == first.content


# --- which answers are stored ---------------------------------------------------


def test_buy_409_insufficient_loyalty_is_stored_and_replayed_even_after_loyalty_arrives(
    auth_client, user, catalog
):
    first = post(auth_client, BUY_COFFEE, {"quantity": 1}, key="poor")
    assert_error(first, 409, "insufficient_loyalty")
    give_loyalty(user, 50)

    replay = post(auth_client, BUY_COFFEE, {"quantity": 1}, key="poor")
    fresh = post(auth_client, BUY_COFFEE, {"quantity": 1}, key="rich")

    assert replay.status_code == 409
    assert replay[REPLAYED] == "true"
    assert replay.content == first.content
    assert fresh.status_code == 201, fresh.content
    assert InventoryItem.objects.get(user=user).quantity == 1
    assert UserState.objects.get(user=user).loyalty == 40
    assert_ledger_clean()


def test_buy_400_validation_error_is_not_stored_and_key_then_serves_a_valid_body(auth_client, user, catalog):
    give_loyalty(user, 50)
    invalid = post(auth_client, BUY_COFFEE, {"quantity": 0}, key="k")
    assert_error(invalid, 400, "validation_error")
    assert IdempotencyKey.objects.count() == 0

    valid = post(auth_client, BUY_COFFEE, {"quantity": 1}, key="k")
    again = post(auth_client, BUY_COFFEE, {"quantity": 1}, key="k")

    assert valid.status_code == 201, valid.content
    assert REPLAYED not in valid
    assert again[REPLAYED] == "true"
    assert InventoryItem.objects.get(user=user).quantity == 1
    assert IdempotencyKey.objects.get().status_code == 201
    assert_ledger_clean()


def test_buy_415_wrong_content_type_is_not_stored_and_the_fixed_retry_executes(auth_client, user, catalog):
    give_loyalty(user, 50)
    body = '{"quantity": 1}'
    wrong = auth_client.post(BUY_COFFEE, body, content_type="text/plain", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(wrong, 415, "unsupported_media_type")

    fixed = auth_client.post(BUY_COFFEE, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k")

    assert fixed.status_code == 201, fixed.content
    assert REPLAYED not in fixed
    assert InventoryItem.objects.get(user=user).quantity == 1
    assert IdempotencyKey.objects.get().status_code == 201


def test_checkin_with_key_and_no_token_returns_401_and_stores_nothing(api_client, user):
    response = post(api_client, CHECKINS, key="k")

    assert_error(response, 401, "not_authenticated")
    assert IdempotencyKey.objects.count() == 0


def test_checkin_with_key_and_forged_token_returns_401_and_stores_nothing(api_client, user):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")

    response = post(api_client, CHECKINS, key="k")

    assert response.status_code == 401
    assert IdempotencyKey.objects.count() == 0
    assert not DailyCheckIn.objects.exists()


def test_replay_for_a_user_deactivated_since_returns_401_not_the_stored_answer(auth_client, user):
    assert post(auth_client, CHECKINS, key="k").status_code == 201
    User.objects.filter(pk=user.pk).update(is_active=False)

    response = post(auth_client, CHECKINS, key="k")

    assert response.status_code == 401, response.content
    assert REPLAYED not in response


def test_key_on_a_route_that_is_not_idempotent_is_ignored(auth_client, user):
    response = auth_client.patch(
        "/api/v1/me/", {"display_name": "Kim"}, format="json", HTTP_IDEMPOTENCY_KEY="k"
    )

    assert response.status_code == 200
    assert IdempotencyKey.objects.count() == 0


# --- scope -----------------------------------------------------------------------


def test_same_key_string_from_another_user_executes_for_that_user(auth_client, user):
    other = UserFactory()
    mine = post(auth_client, CHECKINS, key="shared-key")

    theirs = post(bearer_client(other), CHECKINS, key="shared-key")

    assert mine.status_code == 201
    assert theirs.status_code == 201, theirs.content
    assert REPLAYED not in theirs
    assert theirs.json()["check_in"]["id"] != mine.json()["check_in"]["id"]
    assert DailyCheckIn.objects.filter(user=other).count() == 1
    assert DailyCheckIn.objects.filter(user=user).count() == 1
    assert_ledger_clean()


def test_register_with_key_replays_for_same_ip_and_executes_for_another_ip(api_client):
    payload = {"email": "kai@example.com", "password": "plum-orbit-castle-71"}

    first = post(api_client, REGISTER, payload, key="signup-1")
    replay = post(api_client, REGISTER, payload, key="signup-1")
    other_ip = post(api_client, REGISTER, payload, key="signup-1", REMOTE_ADDR="10.9.8.7")

    assert first.status_code == 201, first.content
    assert replay.status_code == 201
    assert replay[REPLAYED] == "true"
    assert replay.content == first.content
    assert_error(other_ip, 409, "email_taken")
    assert REPLAYED not in other_ip
    assert User.objects.filter(email="kai@example.com").count() == 1
    assert UserState.objects.count() == 1


def test_register_behind_a_proxy_with_an_oversized_forwarded_address_still_replays(api_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    payload = {"email": "zed@example.com", "password": "plum-orbit-castle-71"}
    forwarded = "203.0.113.1, " + "f" * 300

    first = post(api_client, REGISTER, payload, key="k", HTTP_X_FORWARDED_FOR=forwarded)
    replay = post(api_client, REGISTER, payload, key="k", HTTP_X_FORWARDED_FOR=forwarded)

    assert first.status_code == 201, first.content
    assert (replay.status_code, replay[REPLAYED]) == (201, "true")
    assert len(IdempotencyKey.objects.get().scope) <= 80


def test_bootstrap_with_key_replays_201_while_a_new_key_answers_200(auth_client, user):
    UserState.objects.filter(user=user).delete()

    first = post(auth_client, BOOTSTRAP, key="boot")
    replay = post(auth_client, BOOTSTRAP, key="boot")
    fresh = post(auth_client, BOOTSTRAP, key="boot-2")

    assert first.status_code == 201, first.content
    assert (replay.status_code, replay[REPLAYED]) == (201, "true")
    assert fresh.status_code == 200
    assert UserState.objects.filter(user=user).count() == 1


# --- expiry ------------------------------------------------------------------------


def test_key_within_24h_replays_and_older_than_24h_is_replaced_and_executes(user, time_machine):
    start = datetime(2030, 3, 1, 0, 30, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    first = post(bearer_client(user), CHECKINS, key="daily")
    assert first.status_code == 201, first.content

    time_machine.move_to(start + timedelta(hours=23, minutes=59), tick=False)
    within = post(bearer_client(user), CHECKINS, key="daily")

    time_machine.move_to(start + timedelta(hours=24, minutes=1), tick=False)
    after = post(bearer_client(user), CHECKINS, key="daily")

    assert (within.status_code, within[REPLAYED], within.content) == (201, "true", first.content)
    assert after.status_code == 201, after.content
    assert REPLAYED not in after
    assert after.json()["state"]["streak"] == 2
    assert DailyCheckIn.objects.filter(user=user).count() == 2
    record = IdempotencyKey.objects.get(key="daily")
    assert record.created_at == start + timedelta(hours=24, minutes=1)
    assert_ledger_clean()


def test_purge_idempotency_keys_deletes_only_rows_older_than_24h(user, time_machine):
    start = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
    time_machine.move_to(start, tick=False)
    assert post(bearer_client(user), CHECKINS, key="old").status_code == 201
    time_machine.move_to(start + timedelta(hours=25), tick=False)
    assert post(bearer_client(user), CHECKINS, key="new").status_code == 201
    out = io.StringIO()

    call_command("purge_idempotency_keys", stdout=out)

    assert "purged 1 " in out.getvalue()
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
    assert DailyCheckIn.objects.filter(user=user).count() == 2


def test_purge_idempotency_keys_twice_is_harmless(user):
    assert post(bearer_client(user), CHECKINS, key="fresh").status_code == 201
    out = io.StringIO()

    call_command("purge_idempotency_keys", stdout=out)
    call_command("purge_idempotency_keys", stdout=out)

    assert out.getvalue().count("purged 0 ") == 2
    assert IdempotencyKey.objects.count() == 1


# --- no secrets at rest ---------------------------------------------------------------------


def test_stored_register_answer_holds_no_usable_token_and_no_plain_hash_of_the_body(api_client):
    payload = {"email": "ivy@example.com", "password": "plum-orbit-castle-71"}
    first = post(api_client, REGISTER, payload, key="reg-1")
    assert first.status_code == 201, first.content
    tokens = {first.json()["access"], first.json()["refresh"]}

    record = IdempotencyKey.objects.get()

    for token in tokens:
        assert token not in record.response_body
        signing_input = token.rsplit(".", 1)[0]
        assert f'"{signing_input}."' in record.response_body  # kept without its signature
    for stored in json.loads(record.response_body)["access"], json.loads(record.response_body)["refresh"]:
        with pytest.raises(TokenError):
            UntypedToken(stored)
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    plain = hashlib.sha256(b"\0".join((b"POST", REGISTER.encode(), body))).hexdigest()
    assert record.fingerprint != plain
    assert record.fingerprint != hashlib.sha256(body).hexdigest()
    assert payload["password"] not in record.response_body + record.fingerprint


def test_register_replay_answers_the_same_working_tokens(api_client):
    payload = {"email": "ivy@example.com", "password": "plum-orbit-castle-71"}
    first = post(api_client, REGISTER, payload, key="reg-1")

    again = post(api_client, REGISTER, payload, key="reg-1")

    assert again.status_code == 201
    assert again[REPLAYED] == "true"
    assert again.content == first.content
    me = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {again.json()['access']}")
    assert me.status_code == 200
    assert User.objects.count() == 1


def test_register_replay_after_a_password_change_answers_tokens_that_stay_revoked(api_client):
    payload = {"email": "ivy@example.com", "password": "plum-orbit-castle-71"}
    first = post(api_client, REGISTER, payload, key="reg-1").json()
    change = api_client.post(
        "/api/v1/auth/password/",
        {"current_password": payload["password"], "new_password": "quartz-lantern-meadow-58"},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {first['access']}",
    )
    assert change.status_code == 204

    replayed = post(api_client, REGISTER, payload, key="reg-1").json()

    assert replayed == first
    me = api_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {replayed['access']}")
    assert me.status_code == 401
    assert api_client.post("/api/v1/auth/token/refresh/", {"refresh": replayed["refresh"]}).status_code == 401


def test_key_stored_under_a_previous_secret_still_replays_after_rotation(auth_client, user, settings):
    old_secret = settings.SECRET_KEY
    first = post(auth_client, CHECKINS, key="rotating")
    settings.SECRET_KEY = "a-new-secret-key-for-the-rotation-test-0123456789"
    settings.SECRET_KEY_FALLBACKS = [old_secret]

    again = post(auth_client, CHECKINS, key="rotating")

    assert again.status_code == 201, again.content
    assert again[REPLAYED] == "true"
    assert again.content == first.content


# --- bounded storage ----------------------------------------------------------------------------


def test_new_key_beyond_1000_live_keys_of_a_user_drops_the_oldest(auth_client, user):
    limit = settings.IDEMPOTENCY_MAX_KEYS
    now = datetime.now(UTC)
    IdempotencyKey.objects.bulk_create(
        IdempotencyKey(
            scope=f"user:{user.pk}", key=f"old-{n}", fingerprint="0" * 64, status_code=201, created_at=now
        )
        for n in range(limit)
    )
    other = UserFactory()
    IdempotencyKey.objects.create(scope=f"user:{other.pk}", key="other", fingerprint="0" * 64, created_at=now)

    response = post(auth_client, CHECKINS, key="new-1001st")

    assert response.status_code == 201, response.content
    mine = IdempotencyKey.objects.filter(scope=f"user:{user.pk}")
    assert mine.count() == limit
    assert not mine.filter(key="old-0").exists()
    assert mine.filter(key="old-1").exists()
    assert mine.filter(key="new-1001st").exists()
    assert IdempotencyKey.objects.filter(scope=f"user:{other.pk}").count() == 1


def test_purge_expired_is_a_plain_function_returning_the_count(user, time_machine):
    time_machine.move_to(datetime(2030, 1, 1, 12, 0, tzinfo=UTC), tick=False)
    IdempotencyKey.objects.create(scope="user:x", key="old", fingerprint="0" * 64, created_at=timezone.now())
    time_machine.shift(timedelta(hours=25))
    IdempotencyKey.objects.create(scope="user:x", key="new", fingerprint="0" * 64, created_at=timezone.now())

    assert purge_expired() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]
