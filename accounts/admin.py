"""Users in the admin: email login, profile, permissions, and the user page's panels and actions.

The user page is where an operator sees everything of one user, so it lists the read-only
panels (state, inventory, rewards, latest events) and the actions (adjust state) that the
other apps' admin modules define: the one place the admin composes the apps.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as BaseUserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Q

from accounts import services
from accounts.emails import clean_new_email, lookalike_key
from accounts.models import User
from inventory.admin import InventoryItemInline
from progression.admin import LatestEventsInline, UserStateInline, adjust_state, restore_streak
from progression.services import ensure_state
from rewards.admin import UserRewardInline


def _clean_unique_email(form: forms.ModelForm) -> str:
    """The email as the model stores it, screened like a registration's (accounts.emails), and
    refused if another user has it in any spelling or has one that looks like it."""
    email = clean_new_email(form.cleaned_data.get("email") or "")
    others = User.objects.exclude(pk=form.instance.pk)
    if others.filter(Q(email__iexact=email) | Q(email_key=lookalike_key(email))).exists():
        raise ValidationError(
            "A user with this email, or one that looks like it, already exists.", code="unique"
        )
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


class PasswordResetForm(AdminPasswordChangeForm):
    """The admin's password form: the new password (or none) through the service, which also
    ends every session of the user (refresh tokens revoked, access tokens refused)."""

    def save(self, commit=True):
        password = self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        if not commit:
            return super().save(commit=False)
        services.set_password(user=self.user, password=password)
        return self.user


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = PasswordResetForm
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
    inlines = (UserStateInline, InventoryItemInline, UserRewardInline, LatestEventsInline)
    actions = (adjust_state, restore_streak)

    def get_inlines(self, request, obj):
        # The panels show what the services wrote; the add page has nothing to show yet.
        return [] if obj is None else super().get_inlines(request, obj)

    def has_adjust_state_permission(self, request) -> bool:
        """Who may run "adjust state" (Django's admin-action permission protocol)."""
        return request.user.has_perm("progression.change_userstate")

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
            # As registration does: the user starts with a state, in the add view's transaction.
            ensure_state(obj)
