"""Replay of the ledger: rebuild every user's state from its events and compare (replay_and_compare).

Streams rows with server-side cursors (merge-join by user), so memory stays flat
however many events there are. The items each user holds live in the inventory app, which
depends on this one: the caller passes them in (engagement.audit does).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from progression import rules
from progression.models import StateEvent, UserState

_CHUNK = 5000
_VALUE_FIELDS = [*rules.STATE_FIELDS, "last_checkin_day"]


@dataclass
class Mismatch:
    user_id: object
    problems: list[str] = field(default_factory=list)


@dataclass
class LedgerReport:
    users: int = 0
    events: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _grouped(rows: Iterator[tuple]) -> Iterator[tuple[object, list[tuple]]]:
    """Group consecutive rows by their first column."""
    current: object = object()
    bucket: list[tuple] = []
    for row in rows:
        if row[0] != current:
            if bucket:
                yield current, bucket
            current, bucket = row[0], []
        bucket.append(row)
    if bucket:
        yield current, bucket


def replay(start: rules.State, events: list[tuple], problems: list[str]) -> rules.State:
    """Apply each event's deltas in order; note where a stored result disagrees."""
    n = len(rules.STATE_FIELDS)
    state = start
    for row in events:
        event_id, deltas, results, last_day = row[1], row[2 : 2 + n], row[2 + n : 2 + 2 * n], row[-1]
        state = state.replace(
            last_checkin_day=last_day,
            **{name: getattr(state, name) + d for name, d in zip(rules.STATE_FIELDS, deltas, strict=True)},
        )
        for name, stored in zip(rules.STATE_FIELDS, results, strict=True):
            if getattr(state, name) != stored:
                problems.append(
                    f"event {event_id}: {name} recorded {stored}, replay gives {getattr(state, name)}"
                )
                state = state.replace(**{name: stored})
    return state


_CAPACITY = rules.STATE_FIELDS.index("inventory_capacity")


def _start_of(start: rules.State, events: list[tuple], stored: dict) -> rules.State:
    """The user's starting state: the configured one, with the inventory capacity the user
    was created with (the setting may have changed since; the first event records it)."""
    n = len(rules.STATE_FIELDS)
    if events:
        first = events[0]
        return start.replace(inventory_capacity=first[2 + n + _CAPACITY] - first[2 + _CAPACITY])
    return start.replace(inventory_capacity=stored["inventory_capacity"])


def replay_and_compare(rule_set: rules.Rules, *, holdings: Iterable[tuple]) -> LedgerReport:
    """Replay every user's events and compare with the stored state.

    `holdings` yields (user_id, items held, streak freezes held) for the users holding items,
    ordered by user_id descending like the states; each user's inventory_count and freezes_held
    must equal them (0 when absent). The replay covers every event kind the same way (check-ins,
    purchases, uses, claims, adjustments, freeze_consumed, streak_repair): each records its
    deltas and its results.
    """
    report = LedgerReport()
    start = rules.initial_state(rule_set)
    states = (
        UserState.objects.order_by("-user_id")
        .values_list("user_id", *_VALUE_FIELDS, "freezes_held")
        .iterator(chunk_size=_CHUNK)
    )
    events = _grouped(
        StateEvent.objects.order_by("-user_id", "id")
        .values_list(
            "user_id",
            "id",
            *[f"{name}_delta" for name in rules.STATE_FIELDS],
            *rules.STATE_FIELDS,
            "last_checkin_day",
        )
        .iterator(chunk_size=_CHUNK)
    )
    holdings = iter(holdings)
    next_events = next(events, None)
    next_holding = next(holdings, None)
    for row in states:
        user_id, stored = row[0], dict(zip([*_VALUE_FIELDS, "freezes_held"], row[1:], strict=True))
        report.users += 1
        problems: list[str] = []
        # Events of users with no state row (ordered before this user) are orphans.
        while next_events is not None and next_events[0] > user_id:
            report.mismatches.append(Mismatch(next_events[0], ["events without a state row"]))
            next_events = next(events, None)
        user_events: list[tuple] = []
        if next_events is not None and next_events[0] == user_id:
            user_events = next_events[1]
            next_events = next(events, None)
        report.events += len(user_events)
        replayed = replay(_start_of(start, user_events, stored), user_events, problems)
        for name in _VALUE_FIELDS:
            if getattr(replayed, name) != stored[name]:
                problems.append(
                    f"{name} stored {stored[name]}, ledger replay gives {getattr(replayed, name)}"
                )
        while next_holding is not None and next_holding[0] > user_id:
            next_holding = next(holdings, None)
        held_total = held_freezes = 0
        if next_holding is not None and next_holding[0] == user_id:
            held_total, held_freezes = next_holding[1], next_holding[2]
            next_holding = next(holdings, None)
        if held_total != stored["inventory_count"]:
            problems.append(f"inventory_count stored {stored['inventory_count']}, items held {held_total}")
        if held_freezes != stored["freezes_held"]:
            problems.append(f"freezes_held stored {stored['freezes_held']}, freezes held {held_freezes}")
        if problems:
            report.mismatches.append(Mismatch(user_id, problems))
    while next_events is not None:
        report.mismatches.append(Mismatch(next_events[0], ["events without a state row"]))
        next_events = next(events, None)
    return report
