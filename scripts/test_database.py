"""Print the DATABASE_URL `make test` should use (see README "Tests").

DATABASE_URL when set; else the local PostgreSQL when it answers; else SQLite, with a
one-line notice that the PostgreSQL-only tests will be skipped. With CI=true, PostgreSQL
is required: exit 1 when it cannot be reached.
"""

import os
import sys

LOCAL_POSTGRES = "postgres://postgres@127.0.0.1:5432/engagement"


def postgres_answers() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=2"
        ) as conn:
            conn.execute("SELECT 1")
    except Exception:
        return False
    return True


def main() -> int:
    ci = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
    url = os.environ.get("DATABASE_URL")
    if url:
        if ci and not url.startswith(("postgres://", "postgresql://", "pgsql://", "postgis://")):
            print("CI=true needs a PostgreSQL DATABASE_URL", file=sys.stderr)
            return 1
        print(url)
        return 0
    if postgres_answers():
        print(LOCAL_POSTGRES)
        return 0
    if ci:
        print("CI=true but PostgreSQL at 127.0.0.1:5432 does not answer", file=sys.stderr)
        return 1
    print(
        "notice: PostgreSQL not reachable; testing on SQLite, PostgreSQL-only tests skipped",
        file=sys.stderr,
    )
    print("sqlite:///test-db.sqlite3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
