"""Test support for the overview: weeks of activity made through the real services with the clock
moved, and the overview's numbers recomputed straight from the database rows (not the rollup)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser

import time_machine

from accounts.models import User
from accounts.services import register_user
from analytics.overview import RETENTION_DAYS, STREAK_BUCKETS, Period
from inventory.services import buy_tool, use_tool
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.services import adjust_state, check_in

PASSWORD = "a long passphrase 42"
SYSTEM_KINDS = {EventKind.ADJUSTMENT, EventKind.LEADERBOARD_PRIZE}


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


@dataclass(frozen=True)
class Player:
    """A user of the seeded history: registers `joined_days_ago`, checks in on the listed days
    (counted back from today), buys and uses on some of them."""

    name: str
    joined_days_ago: int
    checkin_days_ago: tuple[int, ...]
    shopping_days_ago: tuple[int, ...] = ()


# Several users over several weeks: cohorts in five different weeks, streaks alive and broken,
# buyers and users of tools, days active without a check-in.
PLAYERS = (
    Player("daily", 34, tuple(range(33, -1, -1)), shopping_days_ago=(20, 3)),
    Player(
        "weekday", 30, tuple(d for d in range(29, 0, -1) if d % 7 not in (0, 1)), shopping_days_ago=(9, 7)
    ),
    Player("returner", 23, (22, 16, 15, 14, 2, 1), shopping_days_ago=(14,)),
    Player("once", 20, (19,)),
    Player("late", 12, (11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), shopping_days_ago=(4, 0)),
    Player("shopper", 9, (), shopping_days_ago=(5,)),  # active without ever checking in
    Player("new", 2, (1, 0)),
    Player("today", 0, (0,)),
)


def seed_history(today: date, players: tuple[Player, ...] = PLAYERS) -> list[User]:
    """Register, check in, buy and use through the services, each at its own moment in the past.

    Returns the users, in the order of `players`. The catalog must be seeded. Leaves the clock
    where it found it.
    """
    moments: list[tuple[datetime, int, str, Player]] = []
    for order, player in enumerate(players):
        moments.append((at(today - timedelta(days=player.joined_days_ago), 8), order, "register", player))
        moments += [
            (at(today - timedelta(days=d), 9), order, "check_in", player) for d in player.checkin_days_ago
        ]
        moments += [
            (at(today - timedelta(days=d), 10), order, "shop", player) for d in player.shopping_days_ago
        ]
    users: dict[str, User] = {}
    for moment, _, action, player in sorted(moments, key=lambda m: (m[0], m[1], m[2])):
        with time_machine.travel(moment, tick=False):
            if action == "register":
                users[player.name] = register_user(
                    email=f"{player.name}@example.com", password=PASSWORD, display_name=player.name
                )
            elif action == "check_in":
                check_in(user=users[player.name])
            else:
                user = users[player.name]
                adjust_state(user=user, note="promotion", loyalty=30)  # an operator grant: not activity
                buy_tool(user=user, slug="coffee", quantity=2)
                use_tool(user=user, slug="coffee")
    return [users[player.name] for player in players]


# --- The overview's numbers, recomputed from the rows --------------------------------------


def _events():
    return list(
        StateEvent.objects.values(
            "user_id", "kind", "reference", "created_at", "loyalty_delta", "inventory_count_delta"
        )
    )


def expected_tables(period: Period, deliveries: Counter | None = None) -> dict[str, list[tuple]]:
    """Every chart's table as the overview must print it, by chart slug: one tuple of cell
    texts per row, computed in Python from DailyCheckIn, StateEvent, User and UserState rows
    (and `deliveries`, {(day, result): attempts}, the webhook deliveries the test recorded)."""
    days = period.days
    events = _events()

    def day_of(moment: datetime) -> date:
        return moment.astimezone(UTC).date()

    checkins = Counter(DailyCheckIn.objects.values_list("day", flat=True))
    active = Counter(
        day
        for _, day in {
            (e["user_id"], day_of(e["created_at"])) for e in events if e["kind"] not in SYSTEM_KINDS
        }
    )
    joined = {u: day_of(j) for u, j in User.objects.values_list("pk", "date_joined")}
    registrations = Counter(joined.values())
    earned, spent = Counter(), Counter()
    bought, used = Counter(), Counter()
    for e in events:
        day = day_of(e["created_at"])
        if e["loyalty_delta"] > 0:
            earned[day] += e["loyalty_delta"]
        else:
            spent[day] -= e["loyalty_delta"]
        if period.start <= day <= period.end and e["kind"] == EventKind.TOOL_PURCHASE:
            bought[e["reference"]] += e["inventory_count_delta"]
        if period.start <= day <= period.end and e["kind"] == EventKind.TOOL_USE:
            used[e["reference"]] += 1

    checked_in = set(DailyCheckIn.objects.values_list("user_id", "day"))
    retention = []
    week = period.start - timedelta(days=period.start.weekday())
    while week <= period.end - timedelta(days=period.end.weekday()):
        cohort = [u for u, d in joined.items() if week <= d < week + timedelta(days=7) and d <= period.today]
        row = [week.isoformat(), str(len(cohort))]
        for offset, _ in RETENTION_DAYS:
            eligible = [u for u in cohort if joined[u] + timedelta(days=offset) <= period.today]
            back = [u for u in eligible if (u, joined[u] + timedelta(days=offset)) in checked_in]
            row.append(f"{100 * len(back) / len(eligible):.1f}%" if eligible else "\N{EN DASH}")
        retention.append(tuple(row))
        week += timedelta(days=7)

    live = Counter()
    for streak, last in UserState.objects.values_list("streak", "last_checkin_day"):
        alive = last is not None and last >= period.today - timedelta(days=1)
        live[streak if alive else 0] += 1
    streaks = [
        (label, str(sum(n for s, n in live.items() if s >= low and (high is None or s <= high))))
        for label, low, high in STREAK_BUCKETS
    ]
    from inventory.models import ToolDefinition

    slugs = sorted(set(ToolDefinition.objects.values_list("slug", flat=True)) | set(bought) | set(used))
    deliveries = deliveries or Counter()
    results = sorted({result for _, result in deliveries}) or ["succeeded", "retrying", "failed"]
    return {
        "activity": [(d.isoformat(), str(active[d]), str(checkins[d])) for d in days],
        "registrations": [(d.isoformat(), str(registrations[d])) for d in days],
        "retention": retention,
        "streaks": streaks,
        "loyalty": [(d.isoformat(), str(earned[d]), str(spent[d])) for d in days],
        "tools": [(s, str(bought[s]), str(used[s])) for s in slugs],
        "webhooks": [(d.isoformat(), *(str(deliveries[(d, r)]) for r in results)) for d in days],
    }


class _TableReader(HTMLParser):
    """The body rows of each chart's table in the overview's HTML, by chart slug."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[tuple]] = {}
        self._slug: str | None = None
        self._in_body = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section" and (attributes.get("id") or "").startswith("chart-"):
            self._slug = attributes["id"].removeprefix("chart-")
            self.tables[self._slug] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._slug:
            self.tables[self._slug].append(tuple(self._row))
            self._row = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[tuple]]:
    reader = _TableReader()
    reader.feed(html)
    return reader.tables
