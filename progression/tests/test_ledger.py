"""progression.ledger.verify_ledger: replaying every user's events against the stored state."""

from __future__ import annotations

from datetime import date

import pytest

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from inventory.models import InventoryItem
from inventory.services import buy_tool, use_tool
from progression import ledger
from progression.models import StateEvent, UserState
from progression.services import adjust_state, check_in
from progression.tests.factories import build_checkin_history

pytestmark = pytest.mark.django_db

DAY = date(2030, 3, 1)


def _verify() -> ledger.LedgerReport:
    return verify_ledger()


def _problems_of(report: ledger.LedgerReport, user) -> list[str]:
    matching = [m for m in report.mismatches if m.user_id == user.pk]
    assert len(matching) == 1, report.mismatches
    return matching[0].problems


def _history(user, days: int = 3) -> None:
    for n in range(days):
        check_in(user=user, today=date(2030, 3, 1 + n))


def test_verify_ledger_when_no_users_then_ok_and_empty(db):
    report = _verify()
    assert report.ok
    assert (report.users, report.events, report.mismatches) == (0, 0, [])


def test_verify_ledger_when_every_change_went_through_services_then_ok(catalog):
    users = UserFactory.create_batch(3)
    _history(users[0], days=12)  # streak_3, streak_7 (auto-claimed), checkins_10 unlocks
    _history(users[1], days=2)
    adjust_state(user=users[1], note="goodwill", loyalty=40, fatigue=-5)
    buy_tool(user=users[1], slug="coffee", quantity=2)
    use_tool(user=users[1], slug="coffee")
    report = _verify()
    assert report.ok, report.mismatches
    assert report.users == 3
    assert report.events == StateEvent.objects.count()
    assert StateEvent.objects.filter(kind="reward_claim", user=users[0]).exists()


def test_verify_ledger_when_state_has_no_events_then_ok_against_start_values(user):
    report = _verify()
    assert report.ok
    assert (report.users, report.events) == (1, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("energy", 3),
        ("fatigue", 99),
        ("loyalty", 1234),
        ("streak", 0),
        ("longest_streak", 50),
        ("level", 7),
        ("total_checkins", 9),
        ("last_checkin_day", date(2031, 1, 1)),
    ],
)
def test_verify_ledger_when_stored_state_corrupted_then_mismatch_names_user_and_field(field, value):
    victim, bystander = UserFactory(), UserFactory()
    _history(victim)
    _history(bystander)
    UserState.objects.filter(user=victim).update(**{field: value})

    report = _verify()
    assert not report.ok
    assert [m.user_id for m in report.mismatches] == [victim.pk]
    problems = _problems_of(report, victim)
    assert any(p.startswith(f"{field} stored {value}") for p in problems), problems
    assert report.users == 2
    assert report.events == 6


def test_verify_ledger_when_event_result_tampered_then_mismatch_names_the_event(user):
    _history(user)
    event = StateEvent.objects.filter(user=user).order_by("id")[1]
    StateEvent.objects.filter(pk=event.pk).update(loyalty=event.loyalty + 1)
    problems = _problems_of(_verify(), user)
    assert any(p.startswith(f"event {event.pk}: loyalty recorded") for p in problems), problems


def test_verify_ledger_when_event_deleted_then_mismatch(user):
    _history(user)
    StateEvent.objects.filter(user=user).order_by("id").first().delete()
    problems = _problems_of(_verify(), user)
    assert problems


def test_verify_ledger_when_events_have_no_state_row_then_reported_as_orphans(db):
    orphan, kept = UserFactory(), UserFactory()
    _history(orphan)
    _history(kept)
    UserState.objects.filter(user=orphan).delete()
    report = _verify()
    assert [m.user_id for m in report.mismatches] == [orphan.pk]
    assert _problems_of(report, orphan) == ["events without a state row"]
    assert report.users == 1


def test_verify_ledger_when_many_users_interleave_then_each_orphan_reported_once(db):
    users = UserFactory.create_batch(8)
    for user in users:
        _history(user, days=2)
    orphans = users[::3]
    UserState.objects.filter(user__in=orphans).delete()
    report = _verify()
    assert sorted(m.user_id for m in report.mismatches) == sorted(u.pk for u in orphans)
    assert all(m.problems == ["events without a state row"] for m in report.mismatches)
    assert report.users == len(users) - len(orphans)
    assert report.events == 2 * (len(users) - len(orphans))


def test_verify_ledger_when_inventory_count_disagrees_with_items_held_then_mismatch(catalog):
    holder, other = UserFactory(), UserFactory()
    for user in (holder, other):
        adjust_state(user=user, note="loyalty for shopping", loyalty=100)
        buy_tool(user=user, slug="coffee", quantity=2)
    assert _verify().ok
    InventoryItem.objects.filter(user=holder, tool_id="coffee").update(quantity=3)
    report = _verify()
    assert [m.user_id for m in report.mismatches] == [holder.pk]
    assert _problems_of(report, holder) == ["inventory_count stored 2, items held 3"]


def test_verify_ledger_when_items_vanish_then_mismatch_against_zero(catalog, user):
    adjust_state(user=user, note="loyalty for shopping", loyalty=100)
    buy_tool(user=user, slug="rest")
    InventoryItem.objects.filter(user=user).delete()
    assert _problems_of(_verify(), user) == ["inventory_count stored 1, items held 0"]


def test_verify_ledger_when_long_bulk_history_then_ok(user):
    build_checkin_history(user, days=300, last_day=DAY)
    report = _verify()
    assert report.ok, report.mismatches[:1]
    assert report.events == 300


# The verify_ledger command (output, exit status) is tested in test_commands.py.


def test_verify_ledger_when_capacity_setting_changes_later_then_old_users_still_ok(settings, catalog):
    """A user keeps the capacity they were created with; replay starts from it."""
    old = UserFactory()
    check_in(user=old, today=date(2026, 5, 1))
    untouched = UserFactory()
    settings.ENGAGEMENT = {**settings.ENGAGEMENT, "INVENTORY_CAPACITY": 7}

    new = UserFactory()
    check_in(user=new, today=date(2026, 5, 1))

    assert UserState.objects.get(user=old).inventory_capacity == 5
    assert UserState.objects.get(user=untouched).inventory_capacity == 5
    assert UserState.objects.get(user=new).inventory_capacity == 7
    assert verify_ledger().ok
