"""The app under gunicorn with 4 worker processes on PostgreSQL and Redis: mixed load, shared throttles.

The server runs on the test database (the test is transactional, so what it seeds is
committed and visible to the workers) and signs tokens with the test process's key.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from accounts.hashers import OWASPArgon2PasswordHasher
from accounts.models import User
from accounts.tests.factories import UserFactory
from engagement.testing import (
    assert_ledger_clean,
    bearer_header,
    flush_redis,
    run_in_threads,
    running_gunicorn,
    server_log_errors,
)
from inventory.services import seed_tools
from progression.models import DailyCheckIn, EventKind, StateEvent
from progression.services import adjust_state, check_in
from rewards.models import UserReward
from rewards.services import seed_rewards

DOCUMENTED_409 = {
    "already_checked_in",
    "insufficient_loyalty",
    "inventory_full",
    "not_in_inventory",
    "reward_locked",
    "already_claimed",
}
TOOLS = ("coffee", "rest", "focus")
REWARDS = ("streak_3", "streak_7", "checkins_10")


def seed_population(count: int) -> list[User]:
    """Users with loyalty to spend; half of them on a 3-day streak (streak_3 unlocked, claimable)."""
    seed_tools()
    seed_rewards()
    today = timezone.now().date()
    users = []
    for n in range(count):
        user = UserFactory()
        adjust_state(user=user, note="load test budget", loyalty=60 + 10 * n)
        if n % 2 == 0:
            for days_ago in (3, 2, 1):
                check_in(user=user, today=today - timedelta(days=days_ago))
        users.append(user)
    return users


def mixed_load(base_url: str, users: list[User], *, threads: int, seconds: float) -> list[tuple]:
    """Random check-ins, buys, uses, claims and reads from `threads` clients for `seconds`."""
    headers = {user.pk: bearer_header(user) for user in users}

    def client_loop(seed: int) -> list[tuple]:
        rng = random.Random(seed)
        local: list[tuple] = []
        with httpx.Client(base_url=base_url, timeout=30) as client:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                user = rng.choice(users)
                roll = rng.random()
                extra = {"Idempotency-Key": uuid.uuid4().hex} if rng.random() < 0.3 else {}
                request_headers = {**headers[user.pk], **extra}
                if roll < 0.2:
                    path, body = "/api/v1/checkins/", None
                elif roll < 0.5:
                    path, body = f"/api/v1/tools/{rng.choice(TOOLS)}/buy/", {"quantity": rng.randint(1, 2)}
                elif roll < 0.75:
                    path, body = f"/api/v1/inventory/{rng.choice(TOOLS)}/use/", None
                elif roll < 0.9:
                    path, body = f"/api/v1/rewards/{rng.choice(REWARDS)}/claim/", None
                else:
                    response = client.get("/api/v1/inventory/", headers=request_headers)
                    local.append(("GET", "/api/v1/inventory/", response.status_code, None))
                    continue
                response = client.post(path, json=body, headers=request_headers)
                code = response.json().get("error", {}).get("code") if response.status_code >= 400 else None
                local.append(("POST", path, response.status_code, code))
        return local

    per_thread = run_in_threads(threads, client_loop, timeout=seconds + 60)
    return [result for results in per_thread for result in results]


def concurrent_logins(base_url: str, email: str, password: str, *, count: int) -> list[int]:
    """`count` logins released at once from as many connections; returns their statuses."""

    def attempt(_: int) -> int:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            return client.post("/api/v1/auth/token/", json={"email": email, "password": password}).status_code

    return run_in_threads(count, attempt, timeout=60)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_four_workers_mixed_load_no_5xx_and_login_throttle_exact_across_workers(tmp_path):
    flush_redis()
    users = seed_population(20)
    login_user = users[0]
    password = "load-test-password-42"
    # The server keeps the production hashers; store the password the way it would.
    User.objects.filter(pk=login_user.pk).update(
        password=OWASPArgon2PasswordHasher().encode(password, OWASPArgon2PasswordHasher().salt())
    )
    events_before = StateEvent.objects.count()

    with running_gunicorn(tmp_path) as base_url:
        results = mixed_load(base_url, users, threads=8, seconds=10)

        statuses = Counter(status for _, _, status, _ in results)
        codes_409 = Counter(code for _, _, status, code in results if status == 409)
        assert len(results) > 100, statuses
        assert not [r for r in results if r[2] >= 500], statuses
        assert set(statuses) <= {200, 201, 409}, statuses
        assert set(codes_409) <= DOCUMENTED_409, codes_409
        assert statuses[201] > 0
        assert statuses[200] > 0

        flush_redis()
        burst = concurrent_logins(base_url, login_user.email, "wrong-password", count=30)
        assert Counter(burst) == {401: 10, 429: 20}, burst

        flush_redis()
        answers = []
        for _ in range(15):
            with httpx.Client(base_url=base_url, timeout=30) as client:  # a new connection each time
                answers.append(
                    client.post("/api/v1/auth/token/", json={"email": login_user.email, "password": password})
                )

    assert [r.status_code for r in answers[:10]] == [200] * 10, [r.text for r in answers[:10]]
    for response in answers[10:]:
        assert response.status_code == 429, response.text
        assert response.json()["error"]["code"] == "throttled"
        assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert not server_log_errors(tmp_path)

    assert_ledger_clean()
    assert StateEvent.objects.count() > events_before
    check_in_events = StateEvent.objects.filter(kind=EventKind.CHECK_IN).count()
    assert check_in_events == DailyCheckIn.objects.count()
    assert check_in_events <= 30 + 20  # seeded streaks, then at most one check-in per user today
    for reward in UserReward.objects.filter(claimed_at__isnull=False):
        assert (
            StateEvent.objects.filter(
                user_id=reward.user_id, kind=EventKind.REWARD_CLAIM, reference=reward.reward_id
            ).count()
            == 1
        )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_instances_through_pgbouncer_transaction_mode_mixed_load_no_5xx_and_clean_ledger(tmp_path):
    """Two app hosts (2 workers each) on one database through PgBouncer in transaction mode.

    Both instances serve the same users at once, so the per-user row lock is taken across
    instances and PgBouncer hands each transaction whichever server connection is free.
    """
    from bench.server import PgBouncer

    flush_redis()
    users = seed_population(20)
    events_before = StateEvent.objects.count()
    db = settings.DATABASES["default"]
    conninfo = {
        "host": db.get("HOST") or "127.0.0.1",
        "port": str(db.get("PORT") or 5432),
        "dbname": db["NAME"],
        "user": db.get("USER") or "postgres",
    }
    with connection.cursor() as cursor:  # PgBouncer passes no startup options: the database does.
        cursor.execute(f'ALTER DATABASE "{db["NAME"]}" SET statement_timeout = 5000')
    results: dict[int, list[tuple]] = {}

    with PgBouncer(conninfo, tmp_path / "pgbouncer", pool_size=6) as bouncer:
        env = {"DATABASE_URL": bouncer.url, "DATABASE_PGBOUNCER": "true"}
        with (
            running_gunicorn(tmp_path, workers=2, env=env) as first,
            running_gunicorn(tmp_path, workers=2, env=env) as second,
        ):

            def load(number: int, base_url: str) -> None:
                results[number] = mixed_load(base_url, users, threads=4, seconds=8)

            threads = [threading.Thread(target=load, args=pair) for pair in enumerate((first, second))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=200)

    assert set(results) == {0, 1}, "both instances answered"
    every = results[0] + results[1]
    statuses = Counter(status for _, _, status, _ in every)
    assert min(len(results[0]), len(results[1])) > 30, statuses
    assert not [r for r in every if r[2] >= 500], statuses
    assert set(statuses) <= {200, 201, 409}, statuses
    assert {code for _, _, status, code in every if status == 409} <= DOCUMENTED_409
    assert not server_log_errors(tmp_path)
    assert_ledger_clean()
    assert StateEvent.objects.count() > events_before
    assert StateEvent.objects.filter(kind=EventKind.CHECK_IN).count() == DailyCheckIn.objects.count()
