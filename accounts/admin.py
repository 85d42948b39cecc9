"""Users in the admin: email login, profile, permissions; other apps add their read-only panels.

Dependencies point one way (accounts <- progression <- inventory, rewards), so this module
imports none of those apps: each adds its inline (state, inventory, rewards, latest events)
and its actions (adjust state) to the user page with register_user_inline() and
register_user_action() from its own admin.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from django import forms
from django.contrib import admin
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.core.exceptions import ValidationError

from accounts.models import User, normalize_email
from accounts.signals import user_registered

_user_inlines: list[tuple[int, type[InlineModelAdmin]]] = []


def register_user_inline(inline: type[InlineModelAdmin], *, position: int) -> None:
    """Show `inline` on every user's change page, ordered by `position`; idempotent."""
    if all(registered is not inline for _, registered in _user_inlines):
        _user_inlines.append((position, inline))
        _user_inlines.sort(key=lambda pair: pair[0])


def register_user_action(action: Callable) -> None:
    """Offer `action` on the user list. It may name the permissions it needs in `required_perms`."""
    if action not in UserAdmin.actions:
        UserAdmin.actions.append(action)


def _clean_unique_email(form: forms.ModelForm) -> str:
    """The email lower-cased (as the model stores it), refused if another user has it in any case."""
    email = normalize_email(form.cleaned_data.get("email"))
    taken = User.objects.filter(email__iexact=email).exclude(pk=form.instance.pk).exists()
    if taken:
        raise ValidationError("A user with this email already exists.", code="unique")
    return email


class UserCreationForm(BaseUserCreationForm):
    """Email, display name and a password typed twice (checked by the password validators)."""

    class Meta:
        model = User
        fields = ("email", "display_name")

    def clean_email(self):
        return _clean_unique_email(self)


class UserChangeForm(BaseUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self):
        return _clean_unique_email(self)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    add_form_template = None  # the plain change form; Django's speaks of usernames
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("display_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "display_name", "password1", "password2")}),
    )
    readonly_fields = ("id", "last_login", "date_joined")
    list_display = ("email", "display_name", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "display_name")
    ordering = ("email",)
    show_full_result_count = False
    actions: list[Callable] = []  # filled by register_user_action()

    def get_inlines(self, request, obj):
        # The panels show what the services wrote; the add page has nothing to show yet.
        return [] if obj is None else [inline for _, inline in _user_inlines]

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {
            name: entry
            for name, entry in actions.items()
            if request.user.has_perms(getattr(entry[0], "required_perms", ()))
        }

    def get_search_results(self, request, queryset, search_term):
        # verify_ledger and the logs name users by id: a search for one finds that user.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            user_id = uuid.UUID(search_term.strip())
        except ValueError:
            return queryset, may_have_duplicates
        return queryset | self.model.objects.filter(pk=user_id), may_have_duplicates

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # As registration does: the other apps create what a new user starts with (its state),
            # inside the add view's transaction.
            user_registered.send(sender=User, user=obj)
