"""Lists of functions that a setting names by dotted path, in order (read like MIDDLEWARE)."""

from __future__ import annotations

from typing import Generic, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

T = TypeVar("T")


class ImportedList(Generic[T]):
    """What settings.<setting> names, imported on the first call and kept, in the listed order."""

    def __init__(self, setting: str):
        self.setting = setting
        self._imported: tuple[T, ...] | None = None

    def __call__(self) -> tuple[T, ...]:
        if self._imported is None:
            self._imported = tuple(import_string(path) for path in getattr(settings, self.setting))
        return self._imported

    def reload_when_setting_changes(self) -> None:
        """Import again after a test overrides the setting (called in the app's ready())."""
        setting_changed.connect(self._on_setting_changed, dispatch_uid=f"reload_{self.setting}")

    def _on_setting_changed(self, *, setting: str, **kwargs) -> None:
        if setting == self.setting:
            self._imported = None
