"""State, check-ins and the ledger in the admin (read-only), and the "adjust state" action.

The user page (accounts.admin.UserAdmin) shows UserStateInline and LatestEventsInline and
offers adjust_state, which needs the `progression.change_userstate` permission.

A user's state changes only through progression.services; the admin shows it and, for an
operator's correction, calls adjust_state(), which locks the row and writes an `adjustment`
event like every other change.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.forms.models import BaseInlineFormSet
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from engagement.admin import action_page_context
from engagement.errors import NothingToRepair
from progression import services
from progression.forms import AdjustStateForm, RestoreStreakForm
from progression.models import DailyCheckIn, StateEvent, StreakPause, UserState
from progression.rules import STATE_FIELDS

LATEST_EVENTS = 20


class ReadOnlyAdminMixin:
    """No add, change or delete for anyone, superusers included: rows are written by services."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def user_link(user_id, label) -> str:
    url = reverse("admin:accounts_user_change", args=[user_id])
    return format_html('<a href="{}">{}</a>', url, label)


def events_link(user_id, label="All events") -> str:
    url = reverse("admin:progression_stateevent_changelist")
    return format_html('<a href="{}?user={}">{}</a>', url, user_id, label)


@admin.register(UserState)
class UserStateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "user_email",
        "timezone",
        "level",
        "energy",
        "fatigue",
        "loyalty",
        "streak",
        "longest_streak",
        "total_checkins",
        "inventory_count",
        "freezes_held",
        "last_checkin_day",
        "pause_end_day",
        "updated_at",
    )
    list_select_related = ("user",)
    list_filter = ("level", "last_checkin_day", "day_start_hour")
    search_fields = ("user__email",)
    ordering = ("user__email",)
    show_full_result_count = False
    readonly_fields = ("ledger",)

    @admin.display(description="user", ordering="user__email")
    def user_email(self, state):
        return user_link(state.user_id, state.user.email)

    @admin.display(description="ledger")
    def ledger(self, state):
        return events_link(state.user_id)


@admin.register(StreakPause)
class StreakPauseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "start_day", "end_day", "created_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False


@admin.register(DailyCheckIn)
class DailyCheckInAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "user", "day", "created_at")
    list_select_related = ("user",)
    list_filter = ("day",)
    search_fields = ("user__email",)
    ordering = ("-id",)
    show_full_result_count = False


# What an operator reads of a ledger event, in the event list and on the user page.
EVENT_COLUMNS = (
    "kind",
    "reference",
    "energy_delta",
    "fatigue_delta",
    "loyalty_delta",
    "level_delta",
    "energy",
    "fatigue",
    "loyalty",
    "level",
    "created_at",
)


@admin.register(StateEvent)
class StateEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The ledger: append-only, so the admin only reads it (newest first)."""

    list_display = ("id", "user", *EVENT_COLUMNS)
    list_select_related = ("user",)
    list_filter = ("kind", "created_at")
    search_fields = ("user__email", "reference")
    ordering = ("-id",)
    show_full_result_count = False  # the ledger only grows; counting it all on every page is waste


class ReadOnlyInline(ReadOnlyAdminMixin):
    extra = 0
    can_delete = False


class UserStateInline(ReadOnlyInline, admin.StackedInline):
    model = UserState
    fields = (
        *STATE_FIELDS,
        "last_checkin_day",
        "last_checkin_at",
        "timezone",
        "day_start_hour",
        "settings_changed_at",
        "freezes_held",
        "pause_start_day",
        "pause_end_day",
        "updated_at",
        "ledger",
    )
    readonly_fields = fields

    @admin.display(description="ledger")
    def ledger(self, state):
        return events_link(state.user_id, "All events of this user")


class LatestEventsFormSet(BaseInlineFormSet):
    """Only the newest LATEST_EVENTS events: a user's ledger can be long."""

    def get_queryset(self):
        if not hasattr(self, "_queryset"):
            assert self.queryset is not None  # an inline formset always has one
            self._queryset = self.queryset.order_by("-id")[:LATEST_EVENTS]
        return self._queryset


class LatestEventsInline(ReadOnlyInline, admin.TabularInline):
    model = StateEvent
    formset = LatestEventsFormSet
    verbose_name_plural = f"latest {LATEST_EVENTS} state events (newest first)"
    fields = ("id", *EVENT_COLUMNS)
    readonly_fields = fields
    show_change_link = True


def _users_form_page(modeladmin, request, queryset, form, *, action: str, title: str, **context):
    """The page a user action asks its form on: the selected users, posted back with "apply"."""
    context = action_page_context(
        modeladmin,
        request,
        title=title,
        form=form,
        users=queryset.order_by("email"),
        action_name=action,
        action_checkbox_name=helpers.ACTION_CHECKBOX_NAME,
        media=modeladmin.media + form.media,
        **context,
    )
    return TemplateResponse(request, "admin/progression/adjust_state.html", context)


@admin.action(
    description="Adjust state of selected users (writes an adjustment event)", permissions=["adjust_state"]
)
def adjust_state(modeladmin, request, queryset):
    """Ask for deltas and a note, then call services.adjust_state once per selected user."""
    form = AdjustStateForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        users = list(queryset.order_by("pk"))
        for user in users:
            change = services.adjust_state(user=user, **form.cleaned_data)
            applied = ", ".join(
                f"{name} {change.changes[name]:+d}"
                for name in ("energy", "fatigue", "loyalty", "level")
                if change.changes[name]
            )
            unlocked = ", ".join(reward.slug for reward in change.unlocked_rewards)
            modeladmin.message_user(
                request,
                f"Adjusted {user.email}: {applied or 'no change after clamping'} "
                f"(event #{change.events[0].pk})" + (f"; unlocked {unlocked}." if unlocked else "."),
                messages.SUCCESS,
            )
        return None  # back to the user list
    return _users_form_page(modeladmin, request, queryset, form, action="adjust_state", title="Adjust state")


@admin.action(
    description="Restore streak of selected users (writes an adjustment event)", permissions=["adjust_state"]
)
def restore_streak(modeladmin, request, queryset):
    """Ask for a note, then call services.restore_streak once per selected user."""
    form = RestoreStreakForm(request.POST if "apply" in request.POST else None)
    if form.is_valid():
        for user in queryset.order_by("pk"):
            try:
                change = services.restore_streak(user=user, **form.cleaned_data)
            except NothingToRepair as exc:
                modeladmin.message_user(request, f"{user.email}: {exc.message}", messages.WARNING)
                continue
            modeladmin.message_user(
                request,
                f"Restored {user.email}: streak {change.before.streak} -> {change.after.streak} "
                f"(event #{change.events[0].pk}).",
                messages.SUCCESS,
            )
        return None
    return _users_form_page(
        modeladmin,
        request,
        queryset,
        form,
        action="restore_streak",
        title="Restore streak",
        intro="Each user below gets back the streak lost at their latest reset (streak = the lost "
        "streak + the current one), with no time limit, as one adjustment event with your note.",
        submit_label="Restore streak",
    )
