"""The Redis rank cache: rebuilt from PostgreSQL, kept after each commit, ranks equal to the counts."""

from __future__ import annotations

from datetime import date

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.tests.factories import UserFactory
from engagement.testing import run_in_threads
from leaderboards import ranks, selectors
from leaderboards.models import LeaderboardDefinition, LeaderboardEntry
from leaderboards.services import rebuild_missing_rank_caches, rebuild_rank_caches
from leaderboards.tests.helpers import API, client_for
from progression.services import check_in

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "redis" not in str(django_settings.CACHES["default"]["BACKEND"]), reason="needs REDIS_URL"
    ),
]


def counted_ranks(slug: str) -> dict:
    """Every visible user's rank counted in PostgreSQL (the source of truth)."""
    board = LeaderboardDefinition.objects.get(slug=slug)
    entries = LeaderboardEntry.objects.filter(board=board, visible=True)
    return {entry.user_id: selectors.rank_of(entry) for entry in entries}


def cached_ranks(slug: str) -> dict:
    board = LeaderboardDefinition.objects.get(slug=slug)
    entries = LeaderboardEntry.objects.filter(board=board, visible=True)
    return {entry.user_id: ranks.cached_rank(slug, entry.period_start, entry.user_id) for entry in entries}


def test_rank_cache_when_rebuilt_and_changes_commit_then_ranks_equal_postgres_counts(catalog, time_machine):
    time_machine.move_to("2026-03-03T10:00:00Z", tick=False)
    early = [UserFactory() for _ in range(5)]
    for user in early:  # same instant: ties broken by user id
        check_in(user=user)
    assert cached_ranks("weekly_loyalty") == dict.fromkeys(u.pk for u in early)  # not ready: counted

    rebuilt = rebuild_rank_caches()

    assert ("weekly_loyalty", date(2026, 3, 2), 5) in rebuilt
    assert cached_ranks("weekly_loyalty") == counted_ranks("weekly_loyalty")
    time_machine.move_to("2026-03-03T11:00:00Z", tick=False)
    late = [UserFactory() for _ in range(20)]
    run_in_threads(20, lambda i: client_for(late[i]).post(f"{API}/checkins/"))
    assert cached_ranks("weekly_loyalty") == counted_ranks("weekly_loyalty")
    assert sorted(counted_ranks("weekly_loyalty").values()) == list(range(1, 26))

    hidden = late[0]
    client_for(hidden).patch(f"{API}/me/", {"leaderboard_visible": False}, format="json")
    assert hidden.pk not in cached_ranks("weekly_loyalty")
    assert cached_ranks("weekly_loyalty") == counted_ranks("weekly_loyalty")
    body = client_for(late[-1]).get(f"{API}/leaderboards/weekly_loyalty/me/").json()
    assert body["rank"] == counted_ranks("weekly_loyalty")[late[-1].pk]
    client_for(hidden).patch(f"{API}/me/", {"leaderboard_visible": True}, format="json")
    assert cached_ranks("weekly_loyalty") == counted_ranks("weekly_loyalty")


def test_rank_cache_when_redis_flushed_then_counts_until_the_hourly_rebuild(catalog, time_machine):
    from django.core.cache import cache

    time_machine.move_to("2026-03-03T10:00:00Z", tick=False)
    users = [UserFactory() for _ in range(3)]
    for user in users:
        check_in(user=user)
    rebuild_rank_caches()
    cache.clear()  # a flushed Redis

    body = client_for(users[2]).get(f"{API}/leaderboards/weekly_loyalty/me/").json()
    assert body["rank"] == counted_ranks("weekly_loyalty")[users[2].pk]
    assert cached_ranks("weekly_loyalty") == dict.fromkeys(u.pk for u in users)
    assert {slug for slug, _, _ in rebuild_missing_rank_caches()} >= {"weekly_loyalty"}
    assert rebuild_missing_rank_caches() == []  # all ready now
    assert cached_ranks("weekly_loyalty") == counted_ranks("weekly_loyalty")


def test_rebuild_command_when_run_then_reports_each_set(catalog, time_machine):
    from io import StringIO

    time_machine.move_to("2026-03-03T10:00:00Z", tick=False)
    check_in(user=UserFactory())
    out = StringIO()

    call_command("rebuild_leaderboards", stdout=out)

    assert "weekly_loyalty 2026-03-02: 1 ranked" in out.getvalue()
    assert "best_streak 1970-01-01: 1 ranked" in out.getvalue()


def test_rebuild_command_when_no_redis_then_clear_error(catalog, monkeypatch):
    monkeypatch.setattr(ranks, "client", lambda: None)

    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("rebuild_leaderboards")
    assert rebuild_rank_caches() == []
