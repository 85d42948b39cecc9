"""Throttling: the rates, the 429 shape, and a client identity that cannot be spoofed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory, bearer_client
from engagement.testing import redis_caches, run_in_threads
from engagement.throttling import UserRateThrottle

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
TOOLS = "/api/v1/tools/"
ME = "/api/v1/me/"
PASSWORD = "plum-orbit-castle-71"


def rate(scope: str) -> int:
    """How many requests the configured rate of `scope` allows per window."""
    return int(django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][scope].split("/")[0])


def assert_throttled(response) -> int:
    """A 429 in the error shape with a usable Retry-After; returns the seconds to wait."""
    assert response.status_code == 429, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "throttled"
    assert body["error"]["message"]
    assert "X-Request-ID" in response
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    return retry_after


def login(client, email, password=DEFAULT_PASSWORD, **extra):
    return client.post(TOKEN, {"email": email, "password": password}, format="json", **extra)


@pytest.fixture
def proxies(settings):
    """Set NUM_PROXIES the way the environment does (DRF reads it from REST_FRAMEWORK)."""

    def set_num_proxies(count: int) -> None:
        settings.NUM_PROXIES = count
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return set_num_proxies


# --- the documented rates ----------------------------------------------------


def test_configured_rates_match_spec_defaults():
    assert django_settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {
        "register": "5/min",
        "login": "10/min",
        "login_account": "10/15min",
        "user": "600/min",
        "anon": "60/min",
    }


def test_login_over_rate_per_ip_returns_429_with_retry_after_even_with_right_password(api_client, user):
    for _ in range(rate("login")):
        assert login(api_client, user.email, "wrong-password").status_code == 401

    response = login(api_client, user.email)

    assert_throttled(response)
    assert "access" not in response.json()


def test_login_throttle_is_per_ip_so_another_address_still_logs_in(api_client, user):
    for n in range(rate("login")):
        login(api_client, f"guess{n}@example.com", "wrong-password")

    response = login(api_client, user.email, REMOTE_ADDR="198.51.100.20")

    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


def test_login_allowed_again_once_the_window_has_passed(api_client, user, time_machine):
    time_machine.move_to(datetime(2030, 5, 1, 9, 0, tzinfo=UTC), tick=False)
    for n in range(rate("login")):
        login(api_client, f"guess{n}@example.com", "wrong-password")
    wait = assert_throttled(login(api_client, user.email))

    time_machine.shift(timedelta(seconds=wait + 1))
    response = login(api_client, user.email)

    assert response.status_code == 200, response.content


def test_register_over_rate_per_ip_returns_429_and_creates_no_more_users(api_client):
    for n in range(rate("register")):
        response = api_client.post(
            REGISTER, {"email": f"r{n}@example.com", "password": PASSWORD}, format="json"
        )
        assert response.status_code == 201, response.content

    response = api_client.post(REGISTER, {"email": "late@example.com", "password": PASSWORD}, format="json")

    assert_throttled(response)
    assert User.objects.count() == rate("register")
    assert not User.objects.filter(email="late@example.com").exists()


def test_register_429_is_not_stored_under_its_idempotency_key(api_client, time_machine):
    time_machine.move_to(datetime(2030, 5, 1, 9, 0, tzinfo=UTC), tick=False)
    for n in range(rate("register")):
        api_client.post(REGISTER, {"email": f"r{n}@example.com", "password": PASSWORD}, format="json")
    payload = {"email": "late@example.com", "password": PASSWORD}
    wait = assert_throttled(api_client.post(REGISTER, payload, format="json", HTTP_IDEMPOTENCY_KEY="late"))

    time_machine.shift(timedelta(seconds=wait + 1))
    response = api_client.post(REGISTER, payload, format="json", HTTP_IDEMPOTENCY_KEY="late")

    assert response.status_code == 201, response.content
    assert "Idempotent-Replayed" not in response
    assert User.objects.filter(email="late@example.com").exists()


def test_anonymous_over_rate_returns_429(api_client, catalog):
    for _ in range(rate("anon")):
        assert api_client.get(TOOLS).status_code == 200

    assert_throttled(api_client.get(TOOLS))


def test_authenticated_user_over_rate_returns_429_and_other_users_are_not_affected(user, catalog):
    # The window's first requests are taken through the throttle itself (hundreds of API calls
    # would cost seconds); the last one the window allows, and the one past it, through the API.
    throttle = UserRateThrottle()
    for _ in range(rate("user") - 1):
        assert throttle.allow_request(SimpleNamespace(user=user), None)
    client = bearer_client(user)
    assert client.get(ME).status_code == 200

    assert_throttled(client.get(ME))
    assert bearer_client(UserFactory()).get(ME).status_code == 200


def test_authenticated_user_is_not_held_to_the_anonymous_rate(auth_client, catalog):
    statuses = {auth_client.get(TOOLS).status_code for _ in range(rate("anon") + 5)}

    assert statuses == {200}


# --- client identity behind proxies -----------------------------------------------------


def test_spoofed_x_forwarded_for_does_not_change_identity_without_proxies(api_client, user, proxies):
    proxies(0)
    for n in range(rate("login")):
        login(api_client, user.email, "wrong-password", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    response = login(api_client, user.email, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert_throttled(response)


def test_one_proxy_uses_the_last_hop_and_ignores_what_the_client_prepends(api_client, user, proxies):
    proxies(1)
    for n in range(rate("login")):
        login(
            api_client,
            f"guess{n}@example.com",
            "wrong-password",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}, 198.51.100.7",
        )

    spoofed = login(
        api_client, user.email, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7"
    )
    other_client = login(api_client, user.email, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.8")

    assert_throttled(spoofed)
    assert other_client.status_code == 200, other_client.content


def test_one_proxy_without_x_forwarded_for_falls_back_to_the_peer_address(api_client, user, proxies):
    proxies(1)
    for n in range(rate("login")):
        login(api_client, f"guess{n}@example.com", "wrong-password", REMOTE_ADDR="10.0.0.2")

    assert_throttled(login(api_client, user.email, REMOTE_ADDR="10.0.0.2"))
    assert login(api_client, user.email, REMOTE_ADDR="10.0.0.3").status_code == 200


def test_register_idempotency_scope_ignores_spoofed_x_forwarded_for(api_client, proxies):
    proxies(0)
    payload = {"email": "ivy@example.com", "password": PASSWORD}
    first = api_client.post(
        REGISTER, payload, format="json", HTTP_IDEMPOTENCY_KEY="k", HTTP_X_FORWARDED_FOR="1.1.1.1"
    )

    again = api_client.post(
        REGISTER, payload, format="json", HTTP_IDEMPOTENCY_KEY="k", HTTP_X_FORWARDED_FOR="2.2.2.2"
    )

    assert first.status_code == 201, first.content
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content


# --- the shared cache -------------------------------------------------------------------


def _settings_in_subprocess(env_overrides: dict, expression: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL"}}
    env.update({"DJANGO_SETTINGS_MODULE": "engagement.settings", **env_overrides})
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
    ).stdout.strip()


@pytest.mark.subprocess
def test_cache_is_redis_when_redis_url_is_set_and_local_memory_otherwise():
    expression = "settings.CACHES['default']['BACKEND']"

    with_redis = _settings_in_subprocess({"REDIS_URL": "redis://127.0.0.1:6379/14"}, expression)
    without = _settings_in_subprocess({}, expression)

    assert with_redis == "django_redis.cache.RedisCache"
    assert without == "django.core.cache.backends.locmem.LocMemCache"


@pytest.mark.subprocess
def test_rates_and_num_proxies_are_read_from_the_environment():
    overrides = {"THROTTLE_LOGIN": "3/min", "THROTTLE_USER": "7/min", "NUM_PROXIES": "2"}

    value = _settings_in_subprocess(
        overrides,
        "settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['login'],"
        "settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES']['user'],"
        "settings.REST_FRAMEWORK['NUM_PROXIES']",
    )

    assert value == "3/min 7/min 2"


# --- atomic under concurrency ----------------------------------------------------------------


def _released_together_on_redis(count: int, attempt) -> list[int]:
    """attempt(i) in `count` threads released together, the throttles counting in Redis."""
    with override_settings(CACHES=redis_caches()):
        cache.clear()
        try:
            return run_in_threads(count, attempt)
        finally:
            cache.clear()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_logins_on_redis_let_exactly_the_rate_through(user):
    """DRF's own throttle reads, checks and writes in three steps: a burst slips past it."""
    count = 20

    def attempt(_: int) -> int:
        return login(APIClient(), user.email, "wrong-password").status_code

    statuses = _released_together_on_redis(count, attempt)

    assert Counter(statuses) == {401: rate("login"), 429: count - rate("login")}


def test_login_throttle_on_redis_whose_scripts_were_flushed_loads_its_script_again_and_still_counts(
    api_client, user
):
    """A Redis restart forgets the throttle's script: the next check loads it again, and counts."""
    from django_redis import get_redis_connection

    with override_settings(CACHES=redis_caches()):
        cache.clear()
        try:
            get_redis_connection("default").script_flush()
            statuses = [
                login(api_client, user.email, "wrong-password").status_code for _ in range(rate("login"))
            ]
            get_redis_connection("default").script_flush()
            over = login(api_client, user.email, "wrong-password")
        finally:
            cache.clear()

    assert statuses == [401] * rate("login")
    assert over.status_code == 429, over.content


# --- per account, whatever the address ------------------------------------------------------


def test_login_eleventh_failure_for_one_email_from_fresh_addresses_returns_429_even_with_right_password(
    api_client, user
):
    for n in range(rate("login_account")):
        response = login(api_client, user.email, "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}")
        assert response.status_code == 401, response.content

    response = login(api_client, user.email, REMOTE_ADDR="203.0.113.77")

    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "throttled"
    assert 60 < int(response["Retry-After"]) <= 15 * 60
    assert "access" not in response.json()


@pytest.mark.parametrize("spelling", ["{email}", "{upper}", "  {email}  ", "{fullwidth}"])
def test_login_account_limit_counts_every_spelling_of_the_email_together(api_client, user, spelling):
    local, domain = user.email.split("@")
    variants = {
        "email": user.email,
        "upper": user.email.upper(),
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in local) + "@" + domain,
    }
    for n in range(rate("login_account")):
        login(api_client, spelling.format(**variants), "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}")

    response = login(api_client, user.email, REMOTE_ADDR="203.0.113.78")

    assert response.status_code == 429, response.content


def test_login_successes_never_use_up_the_account_window(api_client, user):
    for n in range(rate("login_account") + 5):
        response = login(api_client, user.email, REMOTE_ADDR=f"198.51.100.{n + 1}")
        assert response.status_code == 200, response.content


def test_login_account_window_frees_after_15_minutes(api_client, user, time_machine):
    time_machine.move_to(datetime(2030, 5, 1, 9, 0, tzinfo=UTC), tick=False)
    for n in range(rate("login_account")):
        login(api_client, user.email, "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}")
    blocked = login(api_client, user.email, REMOTE_ADDR="203.0.113.79")
    assert blocked.status_code == 429

    time_machine.shift(timedelta(seconds=int(blocked["Retry-After"]) + 1))
    response = login(api_client, user.email, REMOTE_ADDR="203.0.113.79")

    assert response.status_code == 200, response.content


def test_login_account_limit_leaves_other_accounts_alone(api_client, user):
    for n in range(rate("login_account")):
        login(api_client, user.email, "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}")
    other = UserFactory()

    response = login(api_client, other.email, REMOTE_ADDR="203.0.113.80")

    assert response.status_code == 200, response.content


# --- IPv6 clients are keyed by their /64 ----------------------------------------------------


def test_login_ipv6_addresses_of_one_64_share_the_per_ip_limit(api_client, user):
    for n in range(rate("login")):
        login(api_client, f"guess{n}@example.com", "wrong-password", REMOTE_ADDR=f"2001:db8:1:2::{n + 1:x}")

    same_64 = login(api_client, user.email, REMOTE_ADDR="2001:db8:1:2:ffff:ffff:ffff:fffe")
    next_64 = login(api_client, user.email, REMOTE_ADDR="2001:db8:1:3::1")

    assert_throttled(same_64)
    assert next_64.status_code == 200, next_64.content


def test_register_ipv4_mapped_ipv6_address_counts_as_the_ipv4_client(api_client):
    for n in range(rate("register")):
        api_client.post(
            REGISTER,
            {"email": f"m{n}@example.com", "password": PASSWORD},
            format="json",
            REMOTE_ADDR="192.0.2.5",
        )

    response = api_client.post(
        REGISTER,
        {"email": "late@example.com", "password": PASSWORD},
        format="json",
        REMOTE_ADDR="::ffff:192.0.2.5",
    )

    assert_throttled(response)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_logins_for_one_email_from_many_addresses_on_redis_let_exactly_the_limit_through(
    user,
):
    """Twenty guesses at once from twenty addresses: the account's limit holds exactly."""
    count = 20

    def attempt(n: int) -> int:
        return login(APIClient(), user.email, "wrong-password", REMOTE_ADDR=f"198.51.100.{n + 1}").status_code

    statuses = _released_together_on_redis(count, attempt)

    assert Counter(statuses) == {401: rate("login_account"), 429: count - rate("login_account")}
