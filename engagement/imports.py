"""Lists of functions that a setting names by dotted path, in order (read like MIDDLEWARE)."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.conf import settings
from django.utils.module_loading import import_string

T = TypeVar("T")


class ImportedList(Generic[T]):
    """What settings.<setting> names, imported on the first call and kept, in the listed order.

    `on_setting_changed`, connected to Django's setting_changed in the app's ready(), forgets
    them when a test overrides the setting.
    """

    def __init__(self, setting: str):
        self.setting = setting
        self._imported: tuple[T, ...] | None = None

    def __call__(self) -> tuple[T, ...]:
        if self._imported is None:
            self._imported = tuple(import_string(path) for path in getattr(settings, self.setting))
        return self._imported

    def on_setting_changed(self, *, setting: str, **kwargs) -> None:
        if setting == self.setting:
            self._imported = None
