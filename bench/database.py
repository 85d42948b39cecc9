"""The bench database: created (or reused), migrated and seeded, verified with verify_ledger, dropped."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bench import ROOT

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engagement_bench"


class BenchDatabase:
    """DATABASE_URL's database when given (created if missing, never dropped); otherwise
    engagement_bench, created fresh for the run and dropped at the end (unless --keep-db)."""

    def __init__(self, url: str | None, *, keep: bool, default: str = DEFAULT_DATABASE):
        self.owned = not url
        self.url = url or default
        self.keep = keep
        self.conninfo = conninfo_to_dict(self.url)
        self.dbname = self.conninfo["dbname"]
        self.admin_conninfo = make_conninfo(self.url, dbname="postgres")
        self.identifier = pgsql.Identifier(self.dbname).as_string(None)

    def _admin(self, statement: str, params=None):
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            return conn.execute(statement, params).fetchall() if params else conn.execute(statement)

    def exists(self) -> bool:
        return bool(self._admin("SELECT 1 FROM pg_database WHERE datname = %s", [self.dbname]))

    def __enter__(self) -> BenchDatabase:
        if self.owned and self.exists():
            self._admin(f"DROP DATABASE {self.identifier} WITH (FORCE)")
        if not self.exists():
            self._admin(f"CREATE DATABASE {self.identifier}")
        return self

    def set_statement_timeout(self, env: dict[str, str]) -> None:
        """The app's statement_timeout on the database: behind PgBouncer it cannot send it at startup."""
        milliseconds = int(env.get("DATABASE_STATEMENT_TIMEOUT_MS", "5000"))
        self._admin(f"ALTER DATABASE {self.identifier} SET statement_timeout = {milliseconds}")

    def __exit__(self, *exc) -> None:
        if self.owned and not self.keep:
            self._admin(f"DROP DATABASE IF EXISTS {self.identifier} WITH (FORCE)")


def setup_django(url: str, *, redis: bool, **environ: str) -> None:
    """Django set up in this process on the bench database: production settings (DEBUG off), quiet
    logs, `environ` on top; without `redis`, no shared cache (REDIS_URL dropped)."""
    os.environ.update(
        {
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "engagement.settings",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY", "bench-" + "x" * 50),
            "DJANGO_ALLOWED_HOSTS": "localhost",
            "DJANGO_LOG_LEVEL": "WARNING",
            **environ,
        }
    )
    if not redis:
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()


def migrate_and_seed() -> str:
    """migrate and seed_catalog (Django set up on the bench database); the cheapest active tool's slug."""
    from django.core.management import call_command

    from inventory.models import ToolDefinition

    call_command("migrate", interactive=False, verbosity=0)
    call_command("seed_catalog", verbosity=0, stdout=io.StringIO())
    tool = ToolDefinition.objects.filter(is_active=True).order_by("price", "slug").first()
    if tool is None:
        raise RuntimeError("no active tool in the catalog")
    return tool.slug


def verify_ledger(env: dict[str, str]) -> dict:
    """manage.py verify_ledger with the app's environment: its exit code and the tail of its output."""
    proc = subprocess.run(
        [sys.executable, "manage.py", "verify_ledger"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return {"exit_code": proc.returncode, "output": (proc.stdout + proc.stderr)[-5000:]}
