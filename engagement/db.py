"""Database helpers shared by the services."""

from __future__ import annotations

from django.db import IntegrityError


def violates(exc: IntegrityError, *, constraint: str, table: str) -> bool:
    """Whether an IntegrityError comes from the named constraint.

    PostgreSQL names the constraint; SQLite only names the table and columns.
    """
    diag = getattr(exc.__cause__, "diag", None)
    name = getattr(diag, "constraint_name", None)
    if name is not None:
        return name == constraint
    return table in str(exc)
