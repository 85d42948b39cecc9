"""Project-wide pytest setup: environment for tests, the PostgreSQL gate, shared fixtures."""

import os

import pytest

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
def catalog(db):
    """The seeded tools, rewards and leaderboards, as seed_catalog writes them."""
    from inventory.services import seed_tools
    from leaderboards.services import seed_boards
    from rewards.services import seed_rewards

    seed_tools()
    seed_rewards()
    seed_boards()
    # Warm this process's copy of the active boards, as a running server's is (one query per
    # 30 s): the query budgets count what every change costs, not that refresh.
    from leaderboards.selectors import active_boards

    active_boards()
