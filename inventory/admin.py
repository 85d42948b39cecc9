"""The tool catalog in the admin (full CRUD, bulk on/off) and what users hold (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, Sum
from django.urls import reverse
from django.utils.html import format_html

from engagement.admin import CatalogAdminMixin, set_active
from inventory.models import InventoryItem, ToolDefinition
from progression.admin import ReadOnlyAdminMixin, ReadOnlyInline
from progression.forms import ConstraintErrorsOnFieldsMixin


class ToolDefinitionForm(ConstraintErrorsOnFieldsMixin, forms.ModelForm):
    constraint_fields = {"inventory_tooldefinition_loyalty_gain_within_price": "loyalty_delta"}

    class Meta:
        model = ToolDefinition
        fields = (
            "slug",
            "name",
            "description",
            "is_active",
            "price",
            "energy_delta",
            "fatigue_delta",
            "loyalty_delta",
            "kind",
            "max_held",
        )


@admin.register(ToolDefinition)
class ToolDefinitionAdmin(CatalogAdminMixin, admin.ModelAdmin):
    form = ToolDefinitionForm
    slug_from = "name"
    fixed_fields = ("kind",)  # the freezes users hold are counted on their state by it
    list_display = (
        "slug",
        "name",
        "price",
        "energy_delta",
        "fatigue_delta",
        "loyalty_delta",
        "kind",
        "max_held",
        "is_active",
        "owners",
        "items_held",
        "updated_at",
    )
    list_display_links = ("slug", "name")
    list_filter = ("is_active", "kind")
    search_fields = ("slug", "name", "description")
    ordering = ("slug",)
    actions = ("activate", "deactivate")
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "is_active")}),
        (
            "Price and effects",
            {
                "fields": ("price", "energy_delta", "fatigue_delta", "loyalty_delta"),
                "description": "Price in loyalty points (0 or more); each delta from -100 to 100. "
                "A loyalty gain is scaled by the user's level multiplier when the tool is used, "
                "and at the highest multiplier (x1.5) it may not exceed the price.",
            },
        ),
        (
            "Kind",
            {
                "fields": ("kind", "max_held"),
                "description": "A boost is used by hand; a streak freeze is never used by hand and "
                "is consumed at check-in to cover missed days. The kind is fixed once the tool "
                "exists (the freezes users hold are counted by it). Max held: the most one user "
                "may hold (empty: only the inventory capacity).",
            },
        ),
        ("Timestamps", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # One query for the list, counts included (no query per row).
        return (
            super()
            .get_queryset(request)
            .annotate(owner_count=Count("items"), held_total=Sum("items__quantity"))
        )

    @admin.display(description="owners", ordering="owner_count")
    def owners(self, tool):
        if not tool.owner_count:
            return 0
        url = reverse("admin:inventory_inventoryitem_changelist")
        return format_html('<a href="{}?tool={}">{}</a>', url, tool.slug, tool.owner_count)

    @admin.display(description="items held", ordering="held_total")
    def items_held(self, tool):
        return tool.held_total or 0

    @admin.action(description="Activate selected tools (on sale again)", permissions=["change"])
    def activate(self, request, queryset):
        set_active(self, request, queryset, active=True, noun="tool")

    @admin.action(
        description="Deactivate selected tools (off sale; owners can still use theirs)",
        permissions=["change"],
    )
    def deactivate(self, request, queryset):
        set_active(self, request, queryset, active=False, noun="tool")


@admin.register(InventoryItem)
class InventoryItemAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("user", "tool", "quantity", "updated_at")
    list_select_related = ("user", "tool")
    list_filter = ("tool",)
    search_fields = ("user__email", "tool__slug")
    ordering = ("user__email", "tool_id")
    show_full_result_count = False


class InventoryItemInline(ReadOnlyInline, admin.TabularInline):
    model = InventoryItem
    fields = ("tool", "quantity", "updated_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("tool")
