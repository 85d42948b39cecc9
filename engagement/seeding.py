"""Idempotent upsert of catalog rows by primary key: running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import models, transaction


@dataclass
class SeedReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def upsert_rows(model: type[models.Model], rows: list[dict]) -> SeedReport:
    """Create missing rows and rewrite rows whose seeded fields differ; touch nothing else."""
    report = SeedReport()
    pk_name = model._meta.pk.name
    with transaction.atomic():
        for row in rows:
            values = dict(row)
            pk = values.pop(pk_name)
            obj = model._default_manager.select_for_update().filter(pk=pk).first()
            if obj is None:
                model._default_manager.create(**{pk_name: pk}, **values)
                report.created.append(pk)
                continue
            changed = [name for name, value in values.items() if getattr(obj, name) != value]
            if changed:
                for name in changed:
                    setattr(obj, name, values[name])
                obj.save()
                report.updated.append(pk)
            else:
                report.unchanged.append(pk)
    return report
