"""engagement.db: the pre-built statements write and read exactly what the ORM would."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import DataError, IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.forms.models import model_to_dict
from django_q.models import OrmQ

from accounts.models import User
from accounts.tests.factories import UserFactory
from engagement.db import (
    HotCursor,
    column_of,
    db_value,
    fetch_by,
    fetch_reading,
    fetch_with,
    held_writes,
    insert_later,
    insert_row,
    statement_cursor,
    update_row,
    update_then_insert,
    write_later,
    writes_together,
)
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState

pytestmark = pytest.mark.django_db

NOW = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def _row(model, pk) -> dict:
    """Every column of the stored row, as the ORM reads it back."""
    return model.objects.filter(pk=pk).values().get()


def _event(user, **values) -> StateEvent:
    fields = {
        "user_id": user.pk,
        "kind": EventKind.ADJUSTMENT,
        "reference": "contract",
        "streak": 2,
        "longest_streak": 3,
        "energy": 40,
        "fatigue": 10,
        "loyalty": 7,
        "level": 2,
        "total_checkins": 4,
        "last_checkin_day": date(2031, 5, 5),
        "inventory_count": 1,
        "inventory_capacity": 5,
        "loyalty_delta": 7,
    }
    return StateEvent(**{**fields, **values})


def test_insert_row_when_new_event_then_same_row_as_orm_create_with_auto_now_add():
    user = UserFactory()
    with time_machine.travel(NOW, tick=False):
        by_helper = insert_row(_event(user))
        by_orm = _event(user)
        by_orm.save()
    helper_row, orm_row = _row(StateEvent, by_helper.pk), _row(StateEvent, by_orm.pk)
    assert by_helper.pk is not None and by_helper.pk != by_orm.pk
    assert helper_row.pop("id") == by_helper.pk
    orm_row.pop("id")
    assert helper_row == orm_row
    assert helper_row["created_at"] == NOW  # auto_now_add honoured, not left to the caller
    assert by_helper.created_at == NOW  # set on the instance too, as save() does
    assert by_helper._state.adding is False


def test_insert_row_when_primary_key_is_not_generated_then_written_and_same_row_as_orm():
    # UserState's key is its one-to-one user: written with the row, nothing read back.
    first, second = UserFactory(), UserFactory()
    UserState.objects.filter(user__in=[first, second]).delete()
    with time_machine.travel(NOW, tick=False):
        by_helper = insert_row(UserState(user=first))
        UserState.objects.create(user=second)
    assert by_helper.pk == first.pk
    assert by_helper._state.adding is False
    helper_row, orm_row = _row(UserState, first.pk), _row(UserState, second.pk)
    assert helper_row.pop("user_id") == first.pk
    assert orm_row.pop("user_id") == second.pk
    assert helper_row == orm_row


def test_fetch_with_when_both_rows_exist_then_each_as_fetch_by_reads_it(django_assert_num_queries):
    user = UserFactory()
    UserState.objects.filter(user=user).update(energy=37, last_checkin_day=date(2031, 5, 5))

    with django_assert_num_queries(1):
        found = fetch_with(User, "id", user.pk, joined=UserState, joined_field="user")

    assert found is not None
    joined_user, state = found
    alone_user, alone_state = fetch_by(User, "id", user.pk), fetch_by(UserState, "user", user.pk)
    assert model_to_dict(joined_user) == model_to_dict(alone_user)
    assert state is not None and alone_state is not None
    assert model_to_dict(state) == model_to_dict(alone_state)
    assert (state.energy, state.last_checkin_day) == (37, date(2031, 5, 5))
    assert joined_user._state.adding is False and state._state.adding is False


def test_fetch_reading_when_row_exists_then_the_row_as_fetch_by_reads_it_and_each_read(
    django_assert_num_queries,
):
    user = UserFactory()
    StateEvent.objects.bulk_create([_event(user), _event(user, kind=EventKind.CHECK_IN)])
    events, key = connection.ops.quote_name(StateEvent._meta.db_table), column_of(UserState, "user")
    reads = (
        f"SELECT count(*) FROM {events} e WHERE e.user_id = {key}",
        f"SELECT max(e.loyalty) FROM {events} e WHERE e.user_id = {key} AND e.kind = 'nothing'",
    )

    with django_assert_num_queries(1):  # inside the test's transaction, as FOR UPDATE needs
        found = fetch_reading(UserState, "user", user.pk, reads=reads, for_update=True)

    assert found is not None
    state, values = found
    assert model_to_dict(state) == model_to_dict(fetch_by(UserState, "user", user.pk))
    assert state._state.adding is False
    assert values == (2, None)
    assert fetch_reading(UserState, "user", UserFactory.build().pk, reads=reads) is None


def test_fetch_with_when_the_joined_row_is_missing_then_none_for_it_and_none_without_the_row():
    user = UserFactory()
    UserState.objects.filter(user=user).delete()

    found = fetch_with(User, "id", user.pk, joined=UserState, joined_field="user")

    assert found is not None and found[0].pk == user.pk and found[1] is None
    missing = fetch_with(User, "id", UserFactory.build().pk, joined=UserState, joined_field="user")
    assert missing is None


def test_update_row_when_fields_named_then_same_as_orm_save_update_fields_with_auto_now():
    first, second = UserFactory(), UserFactory()
    rows = {}
    for user, write in ((first, "helper"), (second, "orm")):
        state = UserState.objects.get(user=user)
        state.energy, state.loyalty, state.last_checkin_day = 99, 12, date(2031, 5, 6)
        with time_machine.travel(NOW, tick=False):
            if write == "helper":
                update_row(state, ("energy", "loyalty", "last_checkin_day", "updated_at"), key="user")
            else:
                state.save(update_fields=["energy", "loyalty", "last_checkin_day", "updated_at"])
        assert state.updated_at == NOW
        rows[write] = _row(UserState, user.pk)
    assert rows["helper"].pop("user_id") == first.pk
    assert rows["orm"].pop("user_id") == second.pk
    assert rows["helper"] == rows["orm"]
    assert rows["helper"]["updated_at"] == NOW  # auto_now honoured


def test_update_row_when_field_not_named_then_left_unchanged():
    user = UserFactory()
    state = UserState.objects.get(user=user)
    state.energy, state.fatigue = 80, 60
    update_row(state, ("energy",), key="user")
    stored = UserState.objects.get(user=user)
    assert (stored.energy, stored.fatigue) == (80, 0)


def test_fetch_by_when_row_exists_then_same_instance_values_as_orm_get():
    user = UserFactory()
    fetched = fetch_by(UserState, "user", user.pk)
    expected = UserState.objects.get(user=user)
    assert fetched is not None
    assert model_to_dict(fetched) == model_to_dict(expected)
    assert fetched._state.adding is False
    assert fetch_by(User, "id", user.pk) == user


def test_fetch_by_when_no_row_then_none():
    assert fetch_by(UserState, "user", UserFactory(with_state=False).pk) is None


def test_fetch_by_when_for_update_then_locks_like_select_for_update(django_assert_num_queries):
    user = UserFactory()
    with transaction.atomic(), django_assert_num_queries(1) as captured:
        state = fetch_by(UserState, "user", user.pk, for_update=True)
    assert state.user_id == user.pk
    sql = captured.captured_queries[0]["sql"]
    if connection.features.has_select_for_update:
        assert sql.rstrip().endswith("FOR UPDATE")


def test_insert_row_when_explicit_created_at_then_kept_like_orm():
    """auto_now_add overrides an explicit value in save() too: the helper does the same."""
    user = UserFactory()
    explicit = NOW - timedelta(days=3)
    with time_machine.travel(NOW, tick=False):
        by_helper = insert_row(_event(user, created_at=explicit))
        by_orm = StateEvent(
            **model_to_dict(_event(user), exclude=["id", "user"]), user=user, created_at=explicit
        )
        by_orm.save()
    assert _row(StateEvent, by_helper.pk)["created_at"] == _row(StateEvent, by_orm.pk)["created_at"] == NOW


def test_statement_cursor_when_statements_follow_then_one_kept_cursor_on_the_connection():
    user = UserFactory()
    first = statement_cursor()
    assert isinstance(first, HotCursor) and first.raw is connection.connection
    assert fetch_by(UserState, "user", user.pk).user_id == user.pk
    assert statement_cursor() is first


def test_statement_cursor_when_connection_shared_between_threads_then_a_cursor_per_statement():
    user = UserFactory()
    connection.inc_thread_sharing()  # as a live server does: two threads, one connection
    try:
        shared = statement_cursor()
        assert not isinstance(shared, HotCursor)
        shared.close()
        assert fetch_by(UserState, "user", user.pk).user_id == user.pk
    finally:
        connection.dec_thread_sharing()
    assert isinstance(statement_cursor(), HotCursor)


@pytest.mark.django_db(transaction=True)
def test_statement_cursor_when_connection_replaced_then_a_new_cursor_on_the_new_one():
    user = UserFactory()
    first = statement_cursor()
    old = connection.connection
    connection.close()  # PostgreSQL: a new connection next; SQLite's in-memory test database stays open
    assert fetch_by(UserState, "user", user.pk).user_id == user.pk
    again = statement_cursor()
    assert again.raw is connection.connection is not None
    assert (again is first) == (connection.connection is old)


def test_statement_cursor_when_unique_violated_then_django_integrity_error_naming_the_constraint():
    user = UserFactory()
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        insert_row(UserState(user=user))  # the factory made the state row already
    assert caught.value.__cause__ is not None  # the driver's error, kept for violates()
    assert UserState.objects.filter(user=user).count() == 1


def test_statement_cursor_when_transaction_broken_then_refused_like_django_cursor():
    user = UserFactory()
    with transaction.atomic():
        with pytest.raises(IntegrityError), transaction.atomic(savepoint=False):
            insert_row(UserState(user=user))  # leaving the block marks the transaction for rollback
        with pytest.raises(TransactionManagementError):
            fetch_by(UserState, "user", user.pk)
        with pytest.raises(TransactionManagementError), connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        transaction.set_rollback(True)


def test_statement_cursor_when_queries_recorded_or_wrapped_then_they_see_each_statement(
    django_assert_num_queries,
):
    user = UserFactory()
    with django_assert_num_queries(1) as captured:
        fetch_by(UserState, "user", user.pk)
    assert '"progression_userstate"' in captured.captured_queries[0]["sql"]
    seen = []

    def wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        update_row(fetch_by(UserState, "user", user.pk), ("energy",), key="user")
    assert len(seen) == 2 and seen[1].startswith('UPDATE "progression_userstate"')


def test_update_then_insert_when_called_then_same_rows_as_update_row_then_insert_row():
    first, second = UserFactory(), UserFactory()
    rows = {}
    for user, write in ((first, "together"), (second, "apart")):
        state = UserState.objects.get(user=user)
        state.energy, state.loyalty = 77, 5
        event = _event(user)
        with time_machine.travel(NOW, tick=False):
            if write == "together":
                written = update_then_insert(state, ("energy", "loyalty", "updated_at"), "user", event)
            else:
                update_row(state, ("energy", "loyalty", "updated_at"), key="user")
                written = insert_row(event)
        assert written is event and event.pk is not None and event._state.adding is False
        rows[write] = (_row(UserState, user.pk), _row(StateEvent, event.pk))
    for write, user in (("together", first), ("apart", second)):
        state_row, event_row = rows[write]
        assert state_row.pop("user_id") == event_row.pop("user_id") == user.pk
        event_row.pop("id")
    assert rows["together"] == rows["apart"]
    assert rows["together"][0]["energy"] == 77 and rows["together"][0]["updated_at"] == NOW


@pytest.mark.postgres
def test_update_then_insert_when_on_postgresql_then_one_statement_and_a_failed_insert_keeps_the_state(
    django_assert_num_queries,
):
    user = UserFactory()
    state = UserState.objects.get(user=user)
    state.energy = 55
    with django_assert_num_queries(1):
        update_then_insert(state, ("energy",), "user", _event(user))
    state.energy = 11
    too_long = _event(user, reference="x" * 300)  # the column holds 255: the INSERT fails
    with pytest.raises(DataError), transaction.atomic():
        update_then_insert(state, ("energy",), "user", too_long)
    assert UserState.objects.get(user=user).energy == 55  # the UPDATE went with it
    assert StateEvent.objects.filter(user=user).count() == 1


def test_update_then_insert_when_keyed_then_its_key_becomes_the_reference_in_one_statement_on_postgresql(
    django_assert_num_queries,
):
    """A check-in row goes with the state row and its event: its key, chosen by the database,
    becomes the event's reference (one statement on PostgreSQL, three elsewhere); the rows are
    those the separate writes make. A second check-in that day fails as a whole."""
    first, second = UserFactory(), UserFactory()
    rows = {}
    for user, write in ((first, "together"), (second, "apart")):
        state = UserState.objects.get(user=user)
        state.energy = 66
        checkin, event = DailyCheckIn(user_id=user.pk, day=date(2031, 5, 6)), _event(user, reference="")
        with time_machine.travel(NOW, tick=False):
            if write == "together":
                with django_assert_num_queries(1 if connection.vendor == "postgresql" else 3):
                    update_then_insert(
                        state, ("energy", "updated_at"), "user", event, keyed=checkin, keyed_into="reference"
                    )
            else:
                insert_row(checkin)
                event.reference = str(checkin.pk)
                update_row(state, ("energy", "updated_at"), key="user")
                insert_row(event)
        assert isinstance(checkin.pk, int) and event.reference == str(checkin.pk)
        assert not checkin._state.adding and not event._state.adding
        assert StateEvent.objects.get(pk=event.pk).reference == str(checkin.pk)
        rows[write] = [_row(model, pk) for model, pk in ((DailyCheckIn, checkin.pk), (StateEvent, event.pk))]
        rows[write].append(_row(UserState, user.pk))
        for row in rows[write]:
            for varying in ("id", "user_id", "reference"):  # the users' and the keys differ
                row.pop(varying, None)
    assert rows["together"] == rows["apart"]

    state = UserState.objects.get(user=first)
    state.energy = 11
    again = DailyCheckIn(user_id=first.pk, day=date(2031, 5, 6))
    with pytest.raises(IntegrityError), transaction.atomic():
        update_then_insert(
            state, ("energy", "updated_at"), "user", _event(first), keyed=again, keyed_into="reference"
        )
    assert UserState.objects.get(user=first).energy == 66
    assert (
        StateEvent.objects.filter(user=first).count() == DailyCheckIn.objects.filter(user=first).count() == 1
    )


@pytest.mark.postgres
def test_update_then_insert_when_keyed_row_has_no_database_chosen_key_then_refused_before_writing():
    user = UserFactory()
    state = UserState.objects.get(user=user)
    state.energy = 12
    users = User.objects.count()
    with pytest.raises(TypeError, match="primary key the database chooses"):
        update_then_insert(
            state,
            ("energy",),
            "user",
            _event(user),
            keyed=User(email="k@example.com"),
            keyed_into="reference",
        )
    assert User.objects.count() == users
    assert UserState.objects.get(user=user).energy != 12
    assert not StateEvent.objects.filter(user=user).exists()


def _job(key: str) -> OrmQ:
    return OrmQ(key=key, payload="signed-package", lock=NOW)


def test_writes_together_when_block_ends_then_held_writes_land_in_one_statement_on_postgresql(
    django_assert_num_queries,
):
    user = UserFactory()
    table = connection.ops.quote_name(UserState._meta.db_table)
    together = 1 if connection.vendor == "postgresql" else 2
    with django_assert_num_queries(together) as captured, writes_together():
        insert_later(_job("held-1"))
        key = db_value(UserState, "user", user.pk)
        write_later(f"UPDATE {table} SET energy = %s WHERE user_id = %s", [42, key])
        sent, held = len(captured.captured_queries), held_writes()
    # On PostgreSQL, held back to the end of the block.
    assert (sent, held) == ((0, 2) if together == 1 else (2, 0))
    if together == 1:
        assert captured.captured_queries[0]["sql"].startswith("WITH ")
    assert OrmQ.objects.get(key="held-1").payload == "signed-package"
    assert UserState.objects.get(user=user).energy == 42


def test_writes_together_when_block_raises_then_held_writes_dropped_and_outside_a_block_at_once():
    with pytest.raises(RuntimeError), writes_together():  # no atomic of its own: nothing rolls it back
        insert_later(_job("dropped"))
        raise RuntimeError("the change failed")
    # Held and dropped on PostgreSQL; written at once elsewhere (a change's transaction rolls it back).
    assert OrmQ.objects.filter(key="dropped").exists() is (connection.vendor != "postgresql")
    insert_later(_job("at-once"))  # no block: written at once
    assert OrmQ.objects.filter(key="at-once").exists()


def test_writes_together_when_nested_then_each_block_sends_its_own_writes(django_assert_num_queries):
    """A pipeline run inside another (two changes) never shares a flush with it: two upserts of
    one row in one statement would fail."""
    postgresql = connection.vendor == "postgresql"
    with django_assert_num_queries(2 if postgresql else 3) as captured, writes_together():
        insert_later(_job("outer-1"))
        with writes_together():
            insert_later(_job("inner"))
        after_inner = [q["sql"] for q in captured.captured_queries]
        insert_later(_job("outer-2"))
    assert set(OrmQ.objects.values_list("key", flat=True)) >= {"outer-1", "inner", "outer-2"}
    if postgresql:  # the inner block's write went at its end, alone; the outer's two at the end
        assert len(after_inner) == 1 and "'inner'" in after_inner[0] and "outer" not in after_inner[0]
        assert captured.captured_queries[1]["sql"].startswith("WITH held_0 AS (INSERT")


def test_write_later_when_returning_then_rows_handed_over_when_sent_and_one_such_statement_per_flush(
    django_assert_num_queries,
):
    """A held statement with RETURNING goes last in the flush, and its rows reach `returned`
    once it has run; a second such statement in the same block runs at once."""
    user = UserFactory()
    table = connection.ops.quote_name(UserState._meta.db_table)
    key = db_value(UserState, "user", user.pk)
    update = f"UPDATE {table} SET energy = %s WHERE user_id = %s RETURNING energy"
    got: dict[str, list] = {}
    together = 2 if connection.vendor == "postgresql" else 3
    with django_assert_num_queries(together) as captured, writes_together():
        write_later(update, [41, key], returned=lambda rows: got.setdefault("first", rows))
        insert_later(_job("with-returning"))
        write_later(update, [42, key], returned=lambda rows: got.setdefault("second", rows))
        early = dict(got)
    statements = [q["sql"] for q in captured.captured_queries]
    if connection.vendor == "postgresql":
        # The second ran at once (its rows already there); the first went last in the flush.
        assert early == {"second": [(42,)]}
        assert statements[1].startswith("WITH held_0 AS (INSERT"), statements
        assert statements[1].endswith("RETURNING energy"), statements
    assert got == {"first": [(41,)], "second": [(42,)]}
    assert OrmQ.objects.filter(key="with-returning").exists()
    write_later(update, [43, key], returned=lambda rows: got.setdefault("outside", rows))  # no block: at once
    assert got["outside"] == [(43,)]
    assert UserState.objects.get(user=user).energy == 43


def test_insert_later_when_written_then_same_row_as_insert_row_without_reading_the_key():
    with time_machine.travel(NOW, tick=False):
        later, now = _job("later"), _job("now")
        insert_later(later)
        insert_row(now)
    assert later.pk is None and now.pk is not None
    rows = [model_to_dict(OrmQ.objects.get(key=key), exclude=["id", "key"]) for key in ("later", "now")]
    assert rows[0] == rows[1]
