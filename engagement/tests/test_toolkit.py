"""The shared test toolkit (engagement/testing.py and the root fixtures) does what its tests rely on."""

import base64
import json

import pytest

from progression.models import UserState
from progression.services import adjust_state


def test_run_threads_when_all_succeed_then_results_in_thread_order(run_threads):
    assert run_threads(4, lambda i: i * i) == [0, 1, 4, 9]


def test_run_threads_when_a_thread_raises_then_the_test_fails_with_it(run_threads):
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("thread 2 failed")
        return i

    with pytest.raises(AssertionError, match="thread 2 failed"):
        run_threads(3, work)


@pytest.mark.django_db
def test_ledger_clean_when_state_bypasses_the_ledger_then_fails_naming_the_user(user, ledger_clean):
    adjust_state(user=user, loyalty=5, note="through the service")
    ledger_clean()

    UserState.objects.filter(user=user).update(loyalty=999)

    with pytest.raises(AssertionError, match=str(user.pk)):
        ledger_clean()


@pytest.mark.django_db
def test_client_for_when_token_minted_then_me_answers_for_that_user(user, client_for):
    response = client_for(user).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


@pytest.mark.django_db
def test_jwt_tokens_when_claims_tampered_then_signature_kept_and_claims_changed(user, jwt_tokens):
    genuine = jwt_tokens.forged_token({"alg": "HS256"}, jwt_tokens.access_claims(user))
    tampered = jwt_tokens.tampered_token(user, user_id="someone-else")

    _, payload, _ = tampered.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["user_id"] == "someone-else"
    assert genuine.count(".") == 2
    assert jwt_tokens.token_client(tampered).get("/api/v1/me/").status_code == 401


def test_with_redis_database_moves_the_number_modulo_16_and_keeps_the_rest_of_the_url():
    from engagement.testing import with_redis_database

    moved = with_redis_database("redis://:secret@cache.internal:6380/7?timeout=1", -2)
    assert moved == "redis://:secret@cache.internal:6380/5?timeout=1"
    assert with_redis_database("redis://127.0.0.1:6379", 1) == "redis://127.0.0.1:6379/1"
    assert with_redis_database("redis://h/0", -1) == "redis://h/15"
    assert with_redis_database("redis://h/15", 1) == "redis://h/0"
    # The database as redis-py reads it: a db query parameter wins; a socket's goes in the query.
    assert with_redis_database("redis://h:6379/2?db=7&health_check_interval=5", 1) == (
        "redis://h:6379/8?health_check_interval=5"
    )
    assert with_redis_database("unix:///run/redis.sock?db=3", -1) == "unix:///run/redis.sock?db=2"
    assert with_redis_database("unix:///run/redis.sock", 2) == "unix:///run/redis.sock?db=2"


def test_worker_redis_urls_when_workers_fit_then_each_has_databases_no_other_worker_uses():
    from engagement.testing import worker_redis_urls

    plan = worker_redis_urls(4, robustness="redis://h/8", cache="redis://h/15")
    assert plan == [
        ("redis://h/8", "redis://h/15"),
        ("redis://h/9", "redis://h/14"),
        ("redis://h/10", "redis://h/13"),
        ("redis://h/11", "redis://h/12"),
    ]
    # A cache on database 0 wraps round to 15, 14...; without one, 16 workers fit.
    assert [cache for _, cache in worker_redis_urls(2, robustness="redis://h/8", cache="redis://h/0")] == [
        "redis://h/0",
        "redis://h/15",
    ]
    assert len(worker_redis_urls(16, robustness="redis://h/8", cache=None)) == 16


@pytest.mark.parametrize(
    ("workers", "cache"),
    [(5, "redis://h/15"), (17, None), (2, "redis://h/9")],  # the ranges meet; past 16; gw1 on gw0's
)
def test_worker_redis_urls_when_two_would_share_a_database_then_value_error(workers, cache):
    from engagement.testing import worker_redis_urls

    with pytest.raises(ValueError, match=f"{workers} pytest-xdist workers would share a Redis database"):
        worker_redis_urls(workers, robustness="redis://h/8", cache=cache)


@pytest.mark.subprocess
def test_xdist_run_whose_workers_would_share_redis_is_refused_before_any_test(tmp_path):
    """-n 5 with REDIS_URL on database 15: worker 4's cache (11) is worker 3's Redis-only one."""
    from engagement.testing import environment_without, run_python

    # Not a worker itself, though this test may run in one.
    env = environment_without(
        "PYTEST_XDIST_",
        "ROBUSTNESS_",
        REDIS_URL="redis://127.0.0.1:6379/15",
        DATABASE_URL="sqlite:///:memory:",
    )
    result = run_python("-m", "pytest", "-p", "no:cacheprovider", "-n", "5", "--co", "-q", env=env)
    assert result.returncode == 4, result.stdout + result.stderr  # pytest's usage error
    assert "5 pytest-xdist workers would share a Redis database" in result.stderr


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sessions_left_on_the_test_database_names_a_leaked_session_and_not_once_it_ends():
    import psycopg

    from engagement.testing import current_database_url, sessions_left_on_the_test_database

    leaked = psycopg.connect(current_database_url("leaked-by-a-test"), autocommit=True)
    leaked.execute("SELECT 1")
    try:
        left = sessions_left_on_the_test_database(timeout=0.3)
    finally:
        leaked.close()
    assert "leaked-by-a-test [idle]: SELECT 1" in left
    assert not [
        session for session in sessions_left_on_the_test_database(timeout=2) if "leaked-by" in session
    ]
