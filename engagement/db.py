"""Database helpers shared by the services, including the hot-path statements.

The ORM compiles a query afresh on every call; on the paths every request takes (the
authenticated user, the state-row lock, the state write and its ledger event, the reward
eligibility check) that compilation costs more CPU than the database spends on the
statement. These helpers build each statement's SQL once and run it with parameters
converted by the model fields themselves, so the SQL, the types and the results are the
ORM's own, without the per-call compilation.
"""

from __future__ import annotations

import functools

from django.db import IntegrityError, connection, models


def violates(exc: IntegrityError, *, constraint: str, table: str) -> bool:
    """Whether an IntegrityError comes from the named constraint.

    PostgreSQL names the constraint; SQLite only names the table and columns.
    """
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return name == constraint
    return table in str(exc)


def db_value(model: type[models.Model], field_name: str, value):
    """`value` as the database adapter expects it for that field (UUIDs, dates, ...)."""
    return model._meta.get_field(field_name).get_db_prep_save(value, connection)


@functools.cache
def select_by_sql(model: type[models.Model], field_name: str, for_update: bool = False) -> str:
    """SELECT every concrete column of `model` WHERE <field> = %s [FOR UPDATE]."""
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in model._meta.concrete_fields)
    where = quote(model._meta.get_field(field_name).column)
    lock = " FOR UPDATE" if for_update and connection.features.has_select_for_update else ""
    return f"SELECT {columns} FROM {quote(model._meta.db_table)} WHERE {where} = %s{lock}"


def fetch_by(model: type[models.Model], field_name: str, value, *, for_update: bool = False):
    """The one row of `model` whose `field_name` equals `value`, or None."""
    sql = select_by_sql(model, field_name, for_update)
    return next(iter(model.objects.raw(sql, [db_value(model, field_name, value)])), None)


@functools.cache
def update_by_sql(model: type[models.Model], field_names: tuple[str, ...], key: str) -> str:
    quote = connection.ops.quote_name
    sets = ", ".join(f"{quote(model._meta.get_field(n).column)} = %s" for n in field_names)
    where = quote(model._meta.get_field(key).column)
    return f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {where} = %s"


def update_row(instance: models.Model, field_names: tuple[str, ...], key: str = "pk") -> None:
    """UPDATE the named fields of `instance` from its attributes (no signals, like .update())."""
    model = type(instance)
    key_field = model._meta.pk if key == "pk" else model._meta.get_field(key)
    params = [
        db_value(model, name, getattr(instance, model._meta.get_field(name).attname)) for name in field_names
    ]
    params.append(key_field.get_db_prep_save(getattr(instance, key_field.attname), connection))
    with connection.cursor() as cursor:
        cursor.execute(update_by_sql(model, field_names, key_field.name), params)


@functools.cache
def _insert_sql(model: type[models.Model]) -> tuple[str, tuple[models.Field, ...], bool]:
    quote = connection.ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    returning = connection.features.can_return_columns_from_insert
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})"
    if returning:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return sql, fields, returning


def insert_row(instance: models.Model) -> models.Model:
    """INSERT `instance` (auto primary key) and set its pk (no signals, like bulk_create())."""
    model = type(instance)
    sql, fields, returning = _insert_sql(model)
    params = [f.get_db_prep_save(getattr(instance, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if returning:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance
