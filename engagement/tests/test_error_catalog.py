"""engagement.errors is the one catalog of error codes, and the README lists exactly those."""

from __future__ import annotations

import re
from pathlib import Path

from django.apps import apps
from django.conf import settings

from engagement import errors

README = Path(settings.BASE_DIR, "README.md").read_text()


def _readme_codes() -> set[str]:
    """The codes named in the README's "Errors" section."""
    section = README.split("### Errors", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"`([a-z][a-z_]+)`", section))


def test_readme_when_listing_error_codes_then_exactly_the_catalog():
    listed = _readme_codes() - {"fields", "retry_at"}  # members of the error object, not codes
    assert listed == set(errors.all_codes())


def test_error_classes_when_listed_then_each_code_has_one_status():
    statuses: dict[str, set[int]] = {}
    pending = [errors.DomainError]
    while pending:
        cls = pending.pop()
        statuses.setdefault(cls.code, set()).add(cls.status_code)
        pending.extend(cls.__subclasses__())
    assert {code: found for code, found in statuses.items() if len(found) > 1} == {}


def test_source_when_searched_then_no_error_code_literal_outside_the_catalog():
    """An answer's code is never retyped: the modules that answer errors take it from errors.py."""
    literal = re.compile(r"error_body\(\s*\"|error_response\([^)]*\"[a-z_]+\"\s*[,)]")
    ours = [Path(app.path) for app in apps.get_app_configs() if Path(app.path).parent == settings.BASE_DIR]
    offenders = [
        str(path.relative_to(settings.BASE_DIR))
        for root in ours
        for path in root.rglob("*.py")
        if "tests" not in path.parts and literal.search(path.read_text())
    ]
    assert ours and offenders == []
