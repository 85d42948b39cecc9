"""Database helpers shared by the services, including the pre-built hot-path statements.

The ORM compiles a query afresh on every call. On the statements every check-in, buy and use
runs, that compilation costs a measurable share of the request's CPU (the figures are in the
docstring of each helper's caller), so these helpers build each statement's SQL once per
(model, database) and run it with the values the model fields themselves prepare: the SQL,
the types, `Field.pre_save` (auto_now, auto_now_add) and the results are the ORM's own,
without the per-call compilation. engagement/tests/test_db.py checks that each writes and
reads exactly what the ORM would.

They send their statements through statement_cursor(): one driver cursor kept per connection,
behind the checks Django's own cursor makes on every statement (a broken transaction, the
thread, the error translation), where Django's cursor() makes a new driver cursor and three
wrapper layers per statement. On PostgreSQL, update_then_insert() writes a ledger change's
state row and appends its event in one statement (a check-in's own row too), and
writes_together() sends the writes of a change's pipeline that nothing reads back (its outbox
job, its rollup, its leaderboard scores) as one.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple, TypeVar

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils.asyncio import async_unsafe

M = TypeVar("M", bound=models.Model)
J = TypeVar("J", bound=models.Model)


@functools.cache
def _field(model: type[models.Model], name: str) -> models.Field:
    """The concrete field `name` of `model` (by name or attname), never a reverse relation.

    Cached: every value the helpers send is prepared by its field, and the lookup through
    _meta cost more than the preparation."""
    field = model._meta.get_field(name)
    if not isinstance(field, models.Field):
        raise TypeError(f"{model.__name__}.{name} is not a concrete field")
    return field


class HotCursor:
    """The kept driver cursor of one connection, with the checks of Django's CursorWrapper.

    A context manager like Django's cursor, except that leaving it does not close the driver
    cursor: the next statement on the same connection reuses it. Each statement, as through
    CursorWrapper: refused in a transaction that must roll back, errors translated to Django's
    (an IntegrityError stays one, and marks the connection as Django does).
    """

    __slots__ = ("_cursor", "_db", "raw")

    def __init__(self, db: BaseDatabaseWrapper):
        self._db = db
        self.raw = db.connection
        self._cursor = db.create_cursor()

    def __enter__(self) -> HotCursor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def execute(self, sql: str, params: Sequence[Any]) -> None:
        db = self._db
        db.validate_no_broken_transaction()
        with db.wrap_database_errors:
            self._cursor.execute(sql, params)

    def fetchone(self) -> Any:
        with self._db.wrap_database_errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        with self._db.wrap_database_errors:
            return self._cursor.fetchall()

    @property
    def lastrowid(self) -> Any:  # SQLite's last_insert_id() reads it
        return self._cursor.lastrowid


@async_unsafe
def statement_cursor(using: str = DEFAULT_DB_ALIAS) -> Any:
    """A cursor for the pre-built statements: the connection's kept HotCursor.

    Django's connection.cursor() (the fallback) when queries are being recorded (DEBUG, the
    tests' query counts) or an execute wrapper is installed, so that both see every statement,
    and when the connection is shared between threads (a test's live server), where two
    threads' statements must not meet on one cursor.

    Measured in-process, alternating runs of 2,000 statements (one state row by key): 320 us
    of CPU per statement through Django's cursor, 269 us through the kept one. On whole
    requests (Django's WSGI handler, chunks of 25 requests alternating between the two): 2.5-4%
    less CPU per check-in and per buy or use, 1-2% per GET me/.
    """
    db = connections[using]
    if db.queries_logged or db.execute_wrappers or db.allow_thread_sharing:
        return db.cursor()
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    hot = db.__dict__.get("_hot_cursor")
    if hot is None or hot.raw is not db.connection:
        with db.wrap_database_errors:
            hot = db.__dict__["_hot_cursor"] = HotCursor(db)
    return hot


def _table(model: type[models.Model]) -> str:
    return str(model._meta.db_table)


def _column(field: models.Field) -> str:
    return str(field.column)


def violates(exc: IntegrityError, *, constraint: str, table: str) -> bool:
    """Whether an IntegrityError comes from the named constraint.

    PostgreSQL names the constraint; SQLite only names the table and columns.
    """
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return name == constraint
    return table in str(exc)


def db_value(model: type[models.Model], field_name: str, value: Any, *, using: str = DEFAULT_DB_ALIAS) -> Any:
    """`value` as the database adapter expects it for that field (UUIDs, dates, ...)."""
    return _field(model, field_name).get_db_prep_save(value, connections[using])


@functools.cache
def _select_sql(
    model: type[models.Model], field_name: str, for_update: bool, using: str, reads: tuple[str, ...] = ()
) -> str:
    connection = connections[using]
    quote = connection.ops.quote_name
    columns = ", ".join(
        [*(quote(_column(f)) for f in model._meta.concrete_fields), *(f"({read})" for read in reads)]
    )
    where = quote(_column(_field(model, field_name)))
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    return f"SELECT {columns} FROM {quote(_table(model))} WHERE {where} = %s{lock}"


def column_of(model: type[models.Model], field_name: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The column of `model`'s field, qualified by its table: what a read of fetch_reading refers to."""
    quote = connections[using].ops.quote_name
    return f"{quote(_table(model))}.{quote(_column(_field(model, field_name)))}"


@functools.cache
def _row_loader(
    model: type[models.Model], using: str
) -> tuple[tuple[str, ...], tuple[tuple[int, Any, list], ...]]:
    """The attnames of the model's concrete fields and, per column that needs any, its converters.

    The converters are the compiler's for a plain column (the backend's, then the field's:
    from_db_value), applied as the ORM applies them when it reads a row.
    """
    connection = connections[using]
    table = _table(model)
    converters = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, column, found))
    return tuple(f.attname for f in model._meta.concrete_fields), tuple(converters)


def _keyed_row(sql: str, model: type[models.Model], field_name: str, value: Any, using: str) -> Any:
    """The one row `sql` (a statement with the one placeholder `field_name = %s`) reads, or None."""
    with statement_cursor(using) as c:
        c.execute(sql, [db_value(model, field_name, value, using=using)])
        return c.fetchone()


def fetch_by(
    model: type[M],
    field_name: str,
    value: Any,
    *,
    for_update: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> M | None:
    """The one row of `model` whose `field_name` equals `value` ([FOR UPDATE]), or None.

    What `model.objects.filter(<field>=value)[.select_for_update()].first()` returns for a
    unique field, minus the query compilation. The row becomes an instance the way the ORM
    makes one (the column converters, then Model.from_db), without a RawQuerySet: on the
    authentication of every request, RawQuerySet's column mapping cost more CPU than the
    statement (GET me/: about 0.1 ms of the request's CPU, measured in-process).
    """
    row = _keyed_row(_select_sql(model, field_name, for_update, using), model, field_name, value, using)
    if row is None:
        return None
    return instance_from_row(model, row, using=using)


def fetch_reading(
    model: type[M],
    field_name: str,
    value: Any,
    *,
    reads: tuple[str, ...],
    for_update: bool = False,
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[M, tuple[Any, ...]] | None:
    """fetch_by, and in the same statement the value of each of `reads`: (instance, values), or None.

    Each read is a scalar subquery without parameters, placed in the row's select list; it
    refers to the row through column_of(). Under FOR UPDATE its rows are read, not locked.
    """
    sql = _select_sql(model, field_name, for_update, using, reads)
    row = _keyed_row(sql, model, field_name, value, using)
    if row is None:
        return None
    return instance_from_row(model, row, using=using), tuple(row[len(model._meta.concrete_fields) :])


@functools.cache
def _select_joined_sql(
    model: type[models.Model], field_name: str, joined: type[models.Model], joined_field: str, using: str
) -> str:
    quote = connections[using].ops.quote_name
    link = _field(joined, joined_field)
    if not isinstance(link, models.OneToOneField):
        raise TypeError(f"{joined.__name__}.{joined_field} is not a one-to-one field")
    on = f"j.{quote(_column(link))} = m.{quote(_column(link.target_field))}"
    where = quote(_column(_field(model, field_name)))
    return (
        f"SELECT {select_columns(model, 'm', using=using)}, {select_columns(joined, 'j', using=using)} "
        f"FROM {quote(_table(model))} m LEFT JOIN {quote(_table(joined))} j ON {on} WHERE m.{where} = %s"
    )


def fetch_with(
    model: type[M],
    field_name: str,
    value: Any,
    *,
    joined: type[J],
    joined_field: str,
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[M, J | None] | None:
    """fetch_by, and in the same statement the row of `joined` whose one-to-one `joined_field`
    points at it: (instance, joined instance or None), or None when `model` has no such row.

    One round trip instead of two where a request needs both (authentication and GET me/).
    """
    sql = _select_joined_sql(model, field_name, joined, joined_field, using)
    row = _keyed_row(sql, model, field_name, value, using)
    if row is None:
        return None
    width = len(model._meta.concrete_fields)
    rest = row[width:]
    key = joined._meta.concrete_fields.index(joined._meta.pk)
    other = None if rest[key] is None else instance_from_row(joined, rest, using=using)
    return instance_from_row(model, row, using=using), other


def select_columns(model: type[models.Model], alias: str, *, using: str = DEFAULT_DB_ALIAS) -> str:
    """The model's concrete columns, qualified by `alias`, in the order instance_from_row reads them."""
    quote = connections[using].ops.quote_name
    return ", ".join(f"{quote(alias)}.{quote(_column(f))}" for f in model._meta.concrete_fields)


def instance_from_row(model: type[M], row: Sequence[Any], *, using: str = DEFAULT_DB_ALIAS) -> M:
    """An instance of `model` from the first len(concrete fields) values of a raw row (the
    model's concrete columns in order, as select_columns lists them), made as the ORM makes one:
    the column converters, then Model.from_db."""
    attnames, converters = _row_loader(model, using)
    values = list(row[: len(attnames)])
    if converters:
        connection = connections[using]
        for index, column, functions in converters:
            for convert in functions:
                values[index] = convert(values[index], column, connection)
    return model.from_db(using, list(attnames), values)


@functools.cache
def _update_sql(model: type[models.Model], field_names: tuple[str, ...], key: str, using: str) -> str:
    quote = connections[using].ops.quote_name
    sets = ", ".join(f"{quote(_column(_field(model, n)))} = %s" for n in field_names)
    where = quote(_column(_field(model, key)))
    return f"UPDATE {quote(_table(model))} SET {sets} WHERE {where} = %s"


def _update_statement(
    instance: models.Model, field_names: tuple[str, ...], key: str, using: str
) -> tuple[str, list[Any]]:
    """update_row's SQL and parameters; the fields' pre_save runs here."""
    model = type(instance)
    connection = connections[using]
    key_field = _field(model, model._meta.pk.name if key == "pk" else key)
    params = []
    for name in field_names:
        field = _field(model, name)
        params.append(field.get_db_prep_save(field.pre_save(instance, add=False), connection))
    params.append(key_field.get_db_prep_save(getattr(instance, key_field.attname), connection))
    return _update_sql(model, field_names, key_field.name, using), params


def update_row(
    instance: models.Model, field_names: tuple[str, ...], key: str = "pk", *, using: str = DEFAULT_DB_ALIAS
) -> None:
    """UPDATE the named fields of `instance` from its attributes, like save(update_fields=...).

    Each field's pre_save runs first (an auto_now field gets the current time), as in save();
    no signals are sent, as with .update().
    """
    sql, params = _update_statement(instance, field_names, key, using)
    with statement_cursor(using) as c:
        c.execute(sql, params)


@functools.cache
def _insert_sql(model: type[models.Model], using: str) -> tuple[str, tuple[models.Field, ...], bool]:
    connection = connections[using]
    quote = connection.ops.quote_name
    # An auto primary key (AutoField: db_returning) is the database's to choose; any other
    # (a UUID default, a one-to-one key) is written like the other columns.
    generated = model._meta.pk.db_returning
    fields = tuple(f for f in model._meta.concrete_fields if not (f.primary_key and generated))
    columns = ", ".join(quote(_column(f)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    returning = generated and connection.features.can_return_columns_from_insert
    sql = f"INSERT INTO {quote(_table(model))} ({columns}) VALUES ({placeholders})"
    if returning:
        sql += f" RETURNING {quote(_column(model._meta.pk))}"
    return sql, fields, returning


def _insert_statement(instance: models.Model, using: str) -> tuple[str, list[Any], bool]:
    """insert_row's SQL, its parameters and whether it returns the key; the fields' pre_save runs here."""
    connection = connections[using]
    sql, fields, returning = _insert_sql(type(instance), using)
    return sql, [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields], returning


def insert_row(
    instance: M, *, using: str = DEFAULT_DB_ALIAS, after: tuple[str, list[Any]] | None = None
) -> M:
    """INSERT `instance` and set its pk when the database chooses it, like save() on a new instance.

    Each field's pre_save runs first (auto_now_add and auto_now fields get the current time);
    no signals are sent, as with bulk_create(). `after`: a data-modifying statement (SQL and
    parameters) to run first, in the same statement (a WITH clause: update_then_insert).
    """
    model = type(instance)
    connection = connections[using]
    sql, params, returning = _insert_statement(instance, using)
    if after is not None:
        sql, params = f"WITH earlier AS ({after[0]}) {sql}", [*after[1], *params]
    with statement_cursor(using) as c:
        c.execute(sql, params)
        if returning:
            instance.pk = c.fetchone()[0]
        elif model._meta.pk.db_returning:
            instance.pk = connection.ops.last_insert_id(c, _table(model), _column(model._meta.pk))
    instance._state.adding = False
    instance._state.db = using
    return instance


def update_then_insert(
    updated: models.Model,
    field_names: tuple[str, ...],
    key: str,
    inserted: M,
    *,
    using: str = DEFAULT_DB_ALIAS,
    keyed: models.Model | None = None,
    keyed_into: str = "",
) -> M:
    """update_row(updated, field_names, key), then insert_row(inserted): what both do, in one
    round trip on PostgreSQL (the UPDATE in a WITH clause of the INSERT), in two elsewhere.

    Every ledger change writes its state row and appends its event this way. Both statements
    see the same snapshot, so the INSERT must not read the updated row (an event does not).
    Measured in-process (chunks of 25 requests alternating with the two-statement form): 4-9%
    less CPU per check-in, about 2% per buy or use.

    `keyed`: a new row whose primary key the database chooses, written first (insert_row sets
    its pk); that key, as text, becomes `inserted`'s field `keyed_into`. A check-in and its
    event's reference go this way: on PostgreSQL in the same statement (a second WITH clause,
    which the event's INSERT selects from), elsewhere as one more statement.
    """
    statement = _update_statement(updated, field_names, key, using)
    if connections[using].vendor == "postgresql":
        if keyed is not None:
            return _insert_keyed(inserted, keyed_into, keyed, statement, using)
        return insert_row(inserted, using=using, after=statement)
    if keyed is not None:
        insert_row(keyed, using=using)
        setattr(inserted, _field(type(inserted), keyed_into).attname, str(keyed.pk))
    with statement_cursor(using) as c:
        c.execute(*statement)
    return insert_row(inserted, using=using)


@functools.cache
def _insert_keyed_sql(
    model: type[models.Model], field_name: str, keyed: type[models.Model], using: str
) -> str:
    """INSERT of `model` whose `field_name` is the key of the row the WITH clause `keyed` wrote."""
    quote = connections[using].ops.quote_name
    _, fields, _ = _insert_sql(model, using)
    target = _field(model, field_name)
    key = f"CAST(keyed.{quote(_column(keyed._meta.pk))} AS text)"
    values = ", ".join(key if f is target else "%s" for f in fields)
    columns = ", ".join(quote(_column(f)) for f in fields)
    return (
        f"INSERT INTO {quote(_table(model))} ({columns}) SELECT {values} FROM keyed "
        f"RETURNING {quote(_column(model._meta.pk))}, {quote(_column(target))}"
    )


def _insert_keyed(
    inserted: M, field_name: str, keyed: models.Model, update: tuple[str, list[Any]], using: str
) -> M:
    """update_then_insert() with `keyed`, on PostgreSQL: one statement for the three writes."""
    keyed_sql, keyed_params, returning = _insert_statement(keyed, using)
    if not returning:  # the event's INSERT selects from the keyed row's RETURNING
        raise TypeError(f"{type(keyed).__name__}: keyed= needs a primary key the database chooses")
    _, params, _ = _insert_statement(inserted, using)
    _, fields, _ = _insert_sql(type(inserted), using)
    target = _field(type(inserted), field_name)
    del params[fields.index(target)]  # that column's value is the keyed row's key, in the SQL
    sql = _insert_keyed_sql(type(inserted), field_name, type(keyed), using)
    with statement_cursor(using) as c:
        c.execute(
            f"WITH earlier AS ({update[0]}), keyed AS ({keyed_sql}) {sql}",
            [*update[1], *keyed_params, *params],
        )
        inserted.pk, reference = c.fetchone()
    setattr(inserted, target.attname, reference)
    keyed.pk = keyed._meta.pk.to_python(reference)
    for row in (keyed, inserted):
        row._state.adding = False
        row._state.db = using
    return inserted


class _Write(NamedTuple):
    sql: str
    params: Sequence[Any]
    returned: Callable[[list[Any]], None] | None


def _run(write: _Write, using: str) -> None:
    with statement_cursor(using) as c:
        c.execute(write.sql, write.params)
        if write.returned is not None:
            write.returned(c.fetchall())


_HELD = "_held_writes"


@contextlib.contextmanager
def writes_together(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Hold back the block's write_later() statements and send them as ONE statement when the
    block ends (on PostgreSQL: each but the last in a WITH clause of the last), one round trip
    for all. Elsewhere write_later() writes at once. A block inside another holds and sends its
    own writes when it ends, so one flush never carries two changes' writes (two upserts of
    one row in one statement would fail).

    For a change's pipeline, whose failure rolls its transaction back: if the block raises,
    the held statements are dropped with it. The statements of one flush share a snapshot, so
    none may need another's rows; and nothing in the block may read what they write. Measured
    in-process (chunks of 25 requests alternating with and without it): 2.7% less CPU per
    check-in and per buy or use.
    """
    db = connections[using]
    if db.vendor != "postgresql":
        yield
        return
    outer = db.__dict__.get(_HELD)
    held: list[_Write] = []
    db.__dict__[_HELD] = held
    try:
        yield
    finally:
        if outer is None:
            del db.__dict__[_HELD]
        else:
            db.__dict__[_HELD] = outer
    if held:
        held.sort(key=lambda write: write.returned is not None)  # the one whose rows are read goes last
        *earlier, last = held
        clauses = ", ".join(f"held_{i} AS ({write.sql})" for i, write in enumerate(earlier))
        sql = f"WITH {clauses} {last.sql}" if earlier else last.sql
        _run(_Write(sql, [p for write in held for p in write.params], last.returned), using)


def write_later(
    sql: str,
    params: Sequence[Any],
    *,
    using: str = DEFAULT_DB_ALIAS,
    returned: Callable[[list[Any]], None] | None = None,
) -> None:
    """A write (INSERT, UPDATE or upsert) held back until the enclosing writes_together() block
    ends; run at once outside one.

    `returned`: the statement ends in RETURNING, and its rows are handed to this callable once it
    has run (at the flush, still inside the transaction). A flush returns the rows of one
    statement only, so a second such statement in a block runs at once.
    """
    write = _Write(sql, params, returned)
    held = connections[using].__dict__.get(_HELD)
    if held is not None and (returned is None or all(w.returned is None for w in held)):
        held.append(write)
        return
    _run(write, using)


def held_writes(using: str = DEFAULT_DB_ALIAS) -> int:
    """How many write_later() statements the enclosing writes_together() block holds (0 outside one)."""
    return len(connections[using].__dict__.get(_HELD, ()))


def insert_later(instance: models.Model, *, using: str = DEFAULT_DB_ALIAS) -> None:
    """insert_row(instance) through write_later(): the database's primary key is not read back."""
    sql, params, returning = _insert_statement(instance, using)
    if returning:
        sql = sql[: sql.rindex(" RETURNING ")]
    write_later(sql, params, using=using)


def delete_in_batches(queryset: models.QuerySet, *, batch: int) -> int:
    """Delete the rows of `queryset`, `batch` primary keys per statement (short statements, short
    locks on a large table); returns how many rows of its model were deleted (cascades not counted).

    The purge jobs (idempotency keys, failed jobs, webhook deliveries) all run through it.
    """
    model = queryset.model
    deleted = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            return deleted
        deleted += model._default_manager.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
