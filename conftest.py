"""Project-wide pytest setup: the PostgreSQL gate and the shared fixtures over engagement.testing
(thread runner, ledger-clean assertion, authenticated clients, token forging, a gunicorn server)."""

import contextlib
import fcntl
import itertools
import os
import warnings
from pathlib import Path

import pytest

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _use_worker_redis() -> None:
    """Each pytest-xdist worker its own Redis databases (engagement.testing.use_worker_redis)."""
    from engagement.testing import use_worker_redis

    try:
        use_worker_redis()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from exc


_use_worker_redis()


def pytest_configure(config):
    """Refuse, before any worker starts, an xdist run whose workers would share a Redis database."""
    from engagement.testing import check_worker_redis

    workers = getattr(config.option, "numprocesses", None)
    if isinstance(workers, int) and not os.environ.get("PYTEST_XDIST_WORKER"):
        if config.option.maxprocesses:
            workers = min(workers, config.option.maxprocesses)
        try:
            check_worker_redis(workers)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from exc


def _register_hypothesis_profiles() -> None:
    from hypothesis import settings

    from engagement.testing import FAST_PROFILE, FAST_PROFILE_EXAMPLES

    settings.register_profile(FAST_PROFILE, max_examples=FAST_PROFILE_EXAMPLES)


_register_hypothesis_profiles()


def _is_postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    if _is_postgres():
        return
    if CI:
        raise pytest.UsageError("CI=true: the suite must run on PostgreSQL (set DATABASE_URL).")
    skip = pytest.mark.skip(reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is deliberately slow; tests of hashing itself opt back in."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and other cache entries never leak between tests."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test databases; before they are dropped, the sessions of the servers and
    workers tests started are given time to end, and any left is named in a warning."""
    yield
    from engagement.testing import sessions_left_on_the_test_database

    with django_db_blocker.unblock():
        left = sessions_left_on_the_test_database()
    if left:
        warnings.warn(f"sessions still on the test database: {left}", stacklevel=1)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def auth_client(user):
    """An APIClient sending a real Bearer access token for `user`."""
    from accounts.tests.factories import bearer_client

    return bearer_client(user)


@pytest.fixture
def client_for():
    """client_for(user, lifetime=None): an APIClient with a Bearer token for that user, minted now."""
    from engagement.testing import client_for

    return client_for


@pytest.fixture
def run_threads():
    """run_threads(count, work): work(i) in `count` real threads released together; the results."""
    from engagement.testing import run_in_threads

    return run_in_threads


@pytest.fixture
def ledger_clean():
    """ledger_clean(): assert engagement.audit.verify_ledger finds every user's state replayed exactly."""
    from engagement.testing import assert_ledger_clean

    return assert_ledger_clean


@pytest.fixture
def jwt_tokens():
    """Token forging for attack tests: .access_claims(user), .forged_token(header, claims, signature),
    .tampered_token(user, **claims), .token_client(token)."""
    from types import SimpleNamespace

    from engagement.testing import access_claims, forged_token, tampered_token, token_client

    return SimpleNamespace(
        access_claims=access_claims,
        forged_token=forged_token,
        tampered_token=tampered_token,
        token_client=token_client,
    )


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    """gunicorn(env=None): start the app under gunicorn (production settings, gunicorn.conf.py) on the
    test database and return its base URL; every server started is stopped after the test.

    The test is transactional, so the rows it commits are what the server sees. Mark the test
    `server` and `postgres`: it needs a server process and PostgreSQL.
    """
    from engagement.testing import gunicorn_server

    numbers = itertools.count()
    with contextlib.ExitStack() as servers:

        def start(*, env: dict[str, str] | None = None) -> str:
            log_path = tmp_path / f"gunicorn-{next(numbers)}.log"
            return servers.enter_context(gunicorn_server(log_path, env=env))

        yield start


@pytest.fixture(scope="session")
def collected_static(tmp_path_factory) -> Path:
    """A STATIC_ROOT that `collectstatic` filled with the production storage (compressed copies
    included), once per run: the pytest-xdist workers share it."""
    from django.core.management import call_command
    from django.test import override_settings

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the run's directory, above every worker's own
    root = shared / "collected-static"
    with (shared / "collected-static.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "collected").exists():
            with override_settings(STATIC_ROOT=root):
                call_command("collectstatic", "--noinput", verbosity=0)
            (root / "collected").touch()
    return root


@pytest.fixture
def catalog(db):
    """The seeded tools, rewards and leaderboards: the rows seed_catalog writes into empty tables
    (inventory/tests/test_catalog.py checks that a seed_catalog run after it changes nothing),
    inserted in one statement a table."""
    from inventory.catalog import SEEDED_TOOLS
    from inventory.models import ToolDefinition
    from leaderboards.catalog import SEEDED_BOARDS
    from leaderboards.models import LeaderboardDefinition
    from leaderboards.selectors import active_boards, forget_active_boards
    from rewards.catalog import SEEDED_REWARDS
    from rewards.models import RewardDefinition

    for model, rows in (
        (ToolDefinition, SEEDED_TOOLS),
        (RewardDefinition, SEEDED_REWARDS),
        (LeaderboardDefinition, SEEDED_BOARDS),
    ):
        model.objects.bulk_create([model(**row) for row in rows])
    # Warm this process's copy of the active boards, as a running server's is (one query per
    # 30 s): the query budgets count what every change costs, not that refresh.
    forget_active_boards()
    active_boards()
