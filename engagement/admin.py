"""Admin pieces shared by the catalog apps."""

from django.contrib import messages
from django.utils import timezone


def set_active(modeladmin, request, queryset, *, active: bool, noun: str) -> None:
    """Bulk activate/deactivate catalog rows in one UPDATE (updated_at kept true), and say so."""
    count = queryset.update(is_active=active, updated_at=timezone.now())
    verb = "activated" if active else "deactivated"
    modeladmin.message_user(request, f"{count} {noun}(s) {verb}.", messages.SUCCESS)
