"""Bench data: users with tokens (no password hashing), loyalty through the service, the scale seed.

Runs inside the orchestrator's Django process, against the bench database only.

Users are made with bulk_create (an unusable password, a state row with the starting
values), never through register_user, whose password hashing would dominate. Loyalty is
given only through progression.services.adjust_state, so state always equals the ledger
replay. Tokens are access tokens minted locally (AccessToken.for_user: no database row).

The scale seed (seed_scale) writes N users and their history with COPY. The history is
not computed here: a few template users check in on past days through the real
progression.services.check_in (rewards unlocking and auto-claims included), with the clock
at each of those days so the ledger's timestamps fall on them, and every seeded user is a
copy of one template's rows (state, check-ins, ledger events, rewards, inventory) under a new
user id and new check-in ids, registered up to a week before its first check-in. So the data
is exactly what the services would have written, and verify_ledger stays clean. COPY goes
around the after-change pipeline, so the overview's daily rollup is then rebuilt from the
ledger (analytics.services.rebuild_rollups), as an operator would after a bulk load.
"""

from __future__ import annotations

import io
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time

import time_machine
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from analytics.services import rebuild_rollups
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, StateEvent, UserState
from progression.services import adjust_state, check_in
from rewards.models import UserReward

EMAIL_DOMAIN = "bench.invalid"


@dataclass
class BenchUser:
    id: uuid.UUID
    token: str


def mint_token(user_id: uuid.UUID) -> str:
    return str(AccessToken.for_user(User(id=user_id)))


def create_users(count: int, *, label: str, run_id: str) -> list[BenchUser]:
    """`count` users with starting state rows and access tokens, in a few bulk statements."""
    users = [
        User(
            id=uuid.uuid4(),
            email=f"{run_id}-{label}-{i}@{EMAIL_DOMAIN}",
            password=make_password(None),
        )
        for i in range(count)
    ]
    with transaction.atomic():
        User.objects.bulk_create(users, batch_size=2000)
        UserState.objects.bulk_create([UserState(user_id=u.id) for u in users], batch_size=2000)
    return [BenchUser(id=u.id, token=mint_token(u.id)) for u in users]


def grant_loyalty(user_ids: Iterable[uuid.UUID], amount: int, *, threads: int = 4) -> None:
    """Give each user `amount` loyalty through the service (an `adjustment` ledger event)."""

    def grant(chunk: list[uuid.UUID]) -> None:
        try:
            for user_id in chunk:
                adjust_state(
                    user=User(id=user_id), note="bench: loyalty for the buy/use phases", loyalty=amount
                )
        finally:
            connection.close()

    ids = list(user_ids)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(grant, [ids[i::threads] for i in range(threads)]))


# --- Scale seed ------------------------------------------------------------------------

# Template histories: the days (counted back from today) of each check-in, oldest first.
# "daily" ends yesterday (a running streak, every streak reward unlocked, streak_7
# auto-claimed), "alternate" checks in every other day, "sparse" every third day.
TEMPLATES: dict[str, Callable[[int], list[int]]] = {
    "daily": lambda k: [k - i for i in range(k)],
    "alternate": lambda k: [2 * (k - i) for i in range(k)],
    "sparse": lambda k: [3 * (k - i) + 1 for i in range(k)],
}


@dataclass
class SeedReport:
    users: int = 0
    checkins: int = 0
    events: int = 0
    user_rewards: int = 0
    inventory_items: int = 0
    seconds: float = 0.0
    rollup_seconds: float = 0.0
    user_ids: list[uuid.UUID] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        return {
            "users": self.users,
            "checkins": self.checkins,
            "events": self.events,
            "user_rewards": self.user_rewards,
            "inventory_items": self.inventory_items,
            "seconds": round(self.seconds, 1),
            "rollup_rebuild_seconds": round(self.rollup_seconds, 1),
        }


def _copy_text(value) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if any(c in text for c in "\\\t\n\r"):
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


@dataclass
class _TableRows:
    """A template user's rows of one table, rendered to COPY text, ready to be cloned."""

    table: str
    columns: list[str]
    rows: list[list[str]]

    @classmethod
    def read(
        cls, model, *, user_column: str, user_id, order_by: str, drop: tuple[str, ...] = ()
    ) -> _TableRows:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT * FROM "{table}" WHERE "{user_column}" = %s ORDER BY "{order_by}"',  # noqa: S608
                [user_id],
            )
            names = [c.name for c in cursor.description]
            raw = cursor.fetchall()
        keep = [i for i, name in enumerate(names) if name not in drop]
        return cls(
            table=table,
            columns=[names[i] for i in keep],
            rows=[[_copy_text(row[i]) for i in keep] for row in raw],
        )

    def index(self, column: str) -> int:
        return self.columns.index(column)


def _template_history(run_id: str, name: str, days_back: list[int], today: date) -> uuid.UUID:
    """A user who checked in on the given past days (at noon UTC), through the real service."""
    (user,) = create_users(1, label=f"template-{name}", run_id=run_id)
    for back in days_back:
        day = today - timedelta(days=back)
        with time_machine.travel(datetime.combine(day, clock_time(12), tzinfo=UTC), tick=False):
            check_in(user=User(id=user.id), today=day)
    return user.id


def _reserve_ids(model, count: int) -> int:
    """Take `count` consecutive ids from the table's sequence; returns the first."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        (sequence,) = cursor.fetchone()
        cursor.execute("SELECT nextval(%s)", [sequence])
        (first,) = cursor.fetchone()
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


def _copy(table: str, columns: list[str], lines: Iterable[str]) -> None:
    column_list = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor, cursor.copy(f'COPY "{table}" ({column_list}) FROM STDIN') as copy:
        buffer = io.StringIO()
        for line in lines:
            buffer.write(line)
            if buffer.tell() > 1 << 20:
                copy.write(buffer.getvalue())
                buffer = io.StringIO()
        copy.write(buffer.getvalue())


def _read_template(user_id: uuid.UUID) -> dict[str, _TableRows]:
    """Every row a template user has, per table, ready to clone."""
    return {
        "user": _TableRows.read(User, user_column="id", user_id=user_id, order_by="id"),
        "state": _TableRows.read(UserState, user_column="user_id", user_id=user_id, order_by="user_id"),
        "checkins": _TableRows.read(DailyCheckIn, user_column="user_id", user_id=user_id, order_by="id"),
        "events": _TableRows.read(
            StateEvent, user_column="user_id", user_id=user_id, order_by="id", drop=("id",)
        ),
        "rewards": _TableRows.read(
            UserReward, user_column="user_id", user_id=user_id, order_by="id", drop=("id",)
        ),
        "items": _TableRows.read(
            InventoryItem, user_column="user_id", user_id=user_id, order_by="id", drop=("id",)
        ),
    }


class _Cloner:
    """COPY text for `count` clones of the templates (clone i copies template i % len(templates))."""

    def __init__(self, templates: list[dict[str, _TableRows]], count: int, run_id: str):
        self.templates = templates
        self.run_id = run_id
        self.user_ids = [uuid.uuid4() for _ in range(count)]
        self.which = [i % len(templates) for i in range(count)]
        checkins = sum(len(templates[w]["checkins"].rows) for w in self.which)
        next_id = _reserve_ids(DailyCheckIn, checkins) if checkins else 0
        self.checkin_base = []  # the id of each clone's first check-in, in the reserved block
        for w in self.which:
            self.checkin_base.append(next_id)
            next_id += len(templates[w]["checkins"].rows)
        # check_in events reference their check-in's id: template id -> position in its history
        self.checkin_position = [
            {row[t["checkins"].index("id")]: j for j, row in enumerate(t["checkins"].rows)} for t in templates
        ]
        # Each clone registers 0 to 6 days before its template's first check-in.
        self.first_checkin = [
            min(date.fromisoformat(row[t["checkins"].index("day")]) for row in t["checkins"].rows)
            for t in templates
        ]

    def count(self, key: str) -> int:
        return sum(len(self.templates[w][key].rows) for w in self.which)

    def lines(self, key: str):
        fix = {"user": self._user, "checkins": self._checkin, "events": self._event}.get(key)
        for i, (user_id, w) in enumerate(zip(self.user_ids, self.which, strict=True)):
            rows = self.templates[w][key]
            user_column = rows.index("id" if key == "user" else "user_id")
            uid = str(user_id)
            for j, row in enumerate(rows.rows):
                values = list(row)
                values[user_column] = uid
                if fix:
                    fix(rows, values, i, j, w)
                yield "\t".join(values) + "\n"

    def _user(self, rows, values, i, j, w):
        values[rows.index("email")] = f"{self.run_id}-scale-{i}@{EMAIL_DOMAIN}"
        values[rows.index("password")] = "!" + secrets.token_hex(20)
        joined = self.first_checkin[w] - timedelta(days=i % 7)
        values[rows.index("date_joined")] = datetime.combine(joined, clock_time(8), tzinfo=UTC).isoformat()

    def _checkin(self, rows, values, i, j, w):
        values[rows.index("id")] = str(self.checkin_base[i] + j)

    def _event(self, rows, values, i, j, w):
        if values[rows.index("kind")] == "check_in":
            position = self.checkin_position[w][values[rows.index("reference")]]
            values[rows.index("reference")] = str(self.checkin_base[i] + position)


# Tables in foreign-key order, with the SeedReport field that counts their rows.
_SEEDED_TABLES = [
    ("user", "users"),
    ("state", None),
    ("checkins", "checkins"),
    ("events", "events"),
    ("rewards", "user_rewards"),
    ("items", "inventory_items"),
]


def seed_scale(*, users: int, checkins_per_user: int, run_id: str, today: date, log=print) -> SeedReport:
    """`users` users with `checkins_per_user` check-ins each (and their ledger), by COPY."""
    started = time.perf_counter()
    report = SeedReport()
    templates = [
        _read_template(_template_history(run_id, name, days(checkins_per_user), today))
        for name, days in TEMPLATES.items()
    ]
    clones = max(0, users - len(templates))
    log(f"  templates written through the services; cloning {clones} users by COPY")
    cloner = _Cloner(templates, clones, run_id)
    first = templates[0]
    with transaction.atomic():
        with connection.cursor() as cursor:  # the app's statement_timeout is for requests, not bulk loads
            cursor.execute("SET LOCAL statement_timeout = 0")
        for key, counter in _SEEDED_TABLES:
            step = time.perf_counter()
            _copy(first[key].table, first[key].columns, cloner.lines(key))
            count = cloner.count(key)
            log(f"  COPY {first[key].table}: {count} rows in {time.perf_counter() - step:.1f} s")
            if counter:
                setattr(report, counter, count + sum(len(t[key].rows) for t in templates))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL statement_timeout = 0")
        for key, _ in _SEEDED_TABLES:
            cursor.execute(f'ANALYZE "{first[key].table}"')
    step = time.perf_counter()
    rebuild_rollups()
    report.rollup_seconds = time.perf_counter() - step
    log(f"  rollup rebuilt from the ledger in {report.rollup_seconds:.1f} s")
    report.user_ids = cloner.user_ids
    report.seconds = time.perf_counter() - started
    return report
