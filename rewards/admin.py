"""Reward definitions in the admin (full CRUD, bulk on/off) and users' rewards (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from engagement.admin import CatalogAdminMixin, set_active
from progression.admin import ReadOnlyAdminMixin, ReadOnlyInline
from progression.forms import ConstraintErrorsOnFieldsMixin
from rewards.models import RewardDefinition, UserReward

# What claiming a reward does: the form and the admin page's "Effects when claimed" list them.
CLAIM_EFFECT_FIELDS = (
    "energy_delta",
    "fatigue_delta",
    "loyalty_delta",
    "grant_tool",
    "grant_quantity",
    "auto_claim",
)


class RewardDefinitionForm(ConstraintErrorsOnFieldsMixin, forms.ModelForm):
    class Meta:
        model = RewardDefinition
        fields = ("slug", "title", "description", "is_active", "condition", "threshold", *CLAIM_EFFECT_FIELDS)


@admin.register(RewardDefinition)
class RewardDefinitionAdmin(CatalogAdminMixin, admin.ModelAdmin):
    form = RewardDefinitionForm
    slug_from = "title"
    list_display = (
        "slug",
        "title",
        "condition",
        "threshold",
        "energy_delta",
        "fatigue_delta",
        "loyalty_delta",
        "grant",
        "auto_claim",
        "is_active",
        "unlocked",
        "claimed",
    )
    list_display_links = ("slug", "title")
    list_select_related = ("grant_tool",)
    list_filter = ("is_active", "condition", "auto_claim")
    search_fields = ("slug", "title", "description")
    ordering = ("slug",)
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("title", "slug", "description", "is_active")}),
        (
            "Unlocks when",
            {
                "fields": ("condition", "threshold"),
                "description": "Checked after every state change; the threshold is 1 or more.",
            },
        ),
        (
            "Effects when claimed",
            {
                "fields": CLAIM_EFFECT_FIELDS,
                "description": "Applied exactly (no level multiplier); each delta from -100 to 100, "
                "grant quantity from 1 to 100.",
            },
        ),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # One query for the list, counts included (no query per row).
        return (
            super()
            .get_queryset(request)
            .annotate(
                unlocked_count=Count("user_rewards"),
                claimed_count=Count("user_rewards", filter=Q(user_rewards__claimed_at__isnull=False)),
            )
        )

    @admin.display(description="grants", ordering="grant_tool")
    def grant(self, reward):
        return f"{reward.grant_quantity} x {reward.grant_tool}" if reward.grant_tool_id else "-"

    @admin.display(description="unlocked by", ordering="unlocked_count")
    def unlocked(self, reward):
        if not reward.unlocked_count:
            return 0
        url = reverse("admin:rewards_userreward_changelist")
        return format_html('<a href="{}?reward={}">{}</a>', url, reward.slug, reward.unlocked_count)

    @admin.display(description="claimed by", ordering="claimed_count")
    def claimed(self, reward):
        return reward.claimed_count

    @admin.action(
        description="Activate selected rewards (users unlock them at their next state change)",
        permissions=["change"],
    )
    def activate(self, request, queryset):
        set_active(self, request, queryset, active=True, noun="reward")

    @admin.action(description="Deactivate selected rewards", permissions=["change"])
    def deactivate(self, request, queryset):
        set_active(self, request, queryset, active=False, noun="reward")


class ClaimedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return (("unlocked", "unlocked, not claimed"), ("claimed", "claimed"))

    def queryset(self, request, queryset):
        if self.value() == "unlocked":
            return queryset.filter(claimed_at__isnull=True)
        if self.value() == "claimed":
            return queryset.filter(claimed_at__isnull=False)
        return queryset


@admin.register(UserReward)
class UserRewardAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "reward", "status", "unlocked_at", "claimed_at")
    list_select_related = ("user", "reward")
    list_filter = (ClaimedFilter, "reward")
    search_fields = ("user__email", "reward__slug")
    ordering = ("-unlocked_at", "-id")
    show_full_result_count = False


class UserRewardInline(ReadOnlyInline, admin.TabularInline):
    model = UserReward
    fields = ("reward", "status", "unlocked_at", "claimed_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reward")
