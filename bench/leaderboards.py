"""Leaderboard reads at scale: 1,000,000 entries in one period (python -m bench.leaderboards).

Seeds N users and one weekly_loyalty entry each in the current week (set-based SQL: a few
INSERT ... SELECT generate_series statements, then VACUUM ANALYZE as autovacuum would), then
times, through the whole Django stack in this process (URL routing, JWT authentication,
middleware, the views' queries, rendering; no network), sequential requests of:

- GET leaderboards/weekly_loyalty/ (the top-100 page);
- GET leaderboards/weekly_loyalty/me/ for the users at rank 1, N/2 and N.

Reports p50/p99 per phase (SPEC 16: p99 <= 50 ms each). Runs on DATABASE_URL (kept) or a
throwaway engagement_bench_boards database. With REDIS_URL set, the rank cache is rebuilt
(timed) and `me/` reads ranks from it; --no-cache measures PostgreSQL alone. --reuse keeps
the entries of an earlier run on the same database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench.database import BenchDatabase, setup_django

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engagement_bench_boards"
BOARD = "weekly_loyalty"


def _seed(entries: int) -> float:
    from django.db import connection
    from django.utils import timezone

    from leaderboards import rules

    started = time.perf_counter()
    week = rules.period_start(rules.WEEK, rules.utc_day(timezone.now()))
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 0")  # set-based seeding of a million rows
        cursor.execute("DELETE FROM leaderboards_leaderboardentry WHERE board_id = %s", [BOARD])
        cursor.execute("SELECT count(*) FROM accounts_user WHERE email LIKE 'lb%%@bench.invalid'")
        have = cursor.fetchone()[0]
        if have < entries:
            cursor.execute(
                "INSERT INTO accounts_user (id, password, email, email_key, display_name, is_active,"
                " is_staff, is_superuser, date_joined, token_version, leaderboard_visible)"
                " SELECT gen_random_uuid(), '!', 'lb' || g || '@bench.invalid',"
                " 'lb' || g || '@bench.invalid',"
                " CASE WHEN g %% 3 = 0 THEN '' ELSE 'Bench ' || g END, true, false, false, now(), 0, true"
                " FROM generate_series(%s, %s) AS g",
                [have + 1, entries],
            )
        # Scores 0..5000 (many ties, as a real week has), reached over the week so far.
        cursor.execute(
            "INSERT INTO leaderboards_leaderboardentry"
            " (board_id, period_start, user_id, score, reached_at, visible)"
            " SELECT %s, %s, u.id, (random() * 5000)::int,"
            " %s::timestamptz + random() * (now() - %s::timestamptz),"
            " true FROM accounts_user u WHERE u.email LIKE 'lb%%@bench.invalid' LIMIT %s",
            [BOARD, week, rules.instant(week), rules.instant(week), entries],
        )
        cursor.execute("VACUUM ANALYZE leaderboards_leaderboardentry")
        cursor.execute("VACUUM ANALYZE accounts_user")
        cursor.execute("RESET statement_timeout")
    return time.perf_counter() - started


def _user_at_rank(rank: int):
    from django.utils import timezone

    from accounts.models import User
    from leaderboards import rules
    from leaderboards.models import LeaderboardEntry

    week = rules.period_start(rules.WEEK, rules.utc_day(timezone.now()))
    rows = LeaderboardEntry.objects.filter(board_id=BOARD, period_start=week, visible=True)
    user_id = rows.order_by("-score", "reached_at", "user_id").values_list("user_id", flat=True)[rank - 1]
    return User.objects.get(pk=user_id)


def _time(client, path: str, runs: int, check=None) -> dict:
    for _ in range(5):  # warm-up: first-request imports, the pool's connection, the plan cache
        client.get(path)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.content
        if check:
            check(response.json())
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
        "max_ms": round(samples[-1], 1),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--reuse", action="store_true", help="keep the entries already seeded")
    parser.add_argument("--no-cache", action="store_true", help="ranks from PostgreSQL alone")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL") or None
    with BenchDatabase(url, keep=args.keep_db, default=DEFAULT_DATABASE) as database:
        setup_django(
            database.url,
            redis=not args.no_cache,
            DJANGO_SECURE_SSL_REDIRECT="false",
            THROTTLE_USER="1000000/min",
        )
        from django.core.management import call_command
        from rest_framework.test import APIClient
        from rest_framework_simplejwt.tokens import AccessToken

        call_command("migrate", interactive=False, verbosity=0)
        call_command("seed_catalog", verbosity=0, stdout=open(os.devnull, "w"))  # noqa: SIM115
        from leaderboards.models import LeaderboardEntry
        from leaderboards.services import rebuild_rank_caches

        seeded = LeaderboardEntry.objects.filter(board_id=BOARD).count()
        seed_seconds = 0.0 if args.reuse and seeded == args.entries else _seed(args.entries)
        report: dict = {"entries": args.entries, "seed_s": round(seed_seconds, 1), "phases": {}}
        started = time.perf_counter()
        rebuilt = rebuild_rank_caches()
        report["rank_cache"] = (
            {
                "rebuild_s": round(time.perf_counter() - started, 1),
                "sets": [[s, str(d), n] for s, d, n in rebuilt],
            }
            if rebuilt
            else "none (PostgreSQL counts)"
        )

        def client_for(user) -> APIClient:
            client = APIClient(HTTP_HOST="localhost")
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
            return client

        top = _user_at_rank(1)
        path = f"/api/v1/leaderboards/{BOARD}/"

        def full_page(body):
            if len(body["results"]) != 100:
                sys.exit("the top page is not 100 rows")

        report["phases"]["top-100 page"] = _time(client_for(top), path, args.runs, full_page)
        for rank in (1, args.entries // 2, args.entries):
            user = _user_at_rank(rank)

            def check(body, rank=rank):
                if body["rank"] != rank:
                    sys.exit(f"me/ says rank {body['rank']}, expected {rank}")

            phase = _time(client_for(user), f"{path}me/", args.runs, check)
            report["phases"][f"me/ at rank {rank:,}"] = phase
        print(json.dumps(report, indent=2))
        over = [name for name, phase in report["phases"].items() if phase["p99_ms"] > 50]
        if over:
            print(f"over the 50 ms p99 target: {', '.join(over)}")
        return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
