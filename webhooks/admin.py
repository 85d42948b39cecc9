"""Webhook endpoints (secrets shown once), messages and delivery attempts (read-only, "retry now").

Every write goes through webhooks.services: creating an endpoint (its URL passes the SSRF
guard, its secret is generated and shown on the next page only), enabling, disabling, and
retrying deliveries.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from engagement.admin import action_page_context
from progression.admin import ReadOnlyAdminMixin
from webhooks import services
from webhooks.messages import TYPES
from webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookMessage

TYPE_CHOICES = [(t, t) for t in TYPES]


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https", help_text="https, public addresses only.")
    event_types = forms.MultipleChoiceField(
        choices=TYPE_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The message types sent to it; none ticked: every type.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("url", "description", "event_types")

    def clean(self):
        cleaned = super().clean() or {}
        if "url" in cleaned:
            try:
                services.validate_endpoint(url=cleaned["url"], event_types=cleaned.get("event_types") or [])
            except forms.ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return cleaned


def show_secrets(modeladmin, request, endpoints, *, title: str) -> TemplateResponse:
    """The one page that shows endpoint secrets; they are not shown anywhere else."""
    context = action_page_context(modeladmin, request, title=title, endpoints=endpoints)
    return TemplateResponse(request, "admin/webhooks/endpoint_secret.html", context)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = (
        "id",
        "url",
        "types",
        "is_active",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    )
    list_display_links = ("id", "url")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    ordering = ("id",)
    readonly_fields = ("is_active", "consecutive_failures", "disabled_reason", "created_at", "updated_at")
    actions = ("enable", "disable", "rotate_secret")

    def get_fields(self, request, obj=None):
        fields = ["url", "description", "event_types"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    @admin.display(description="types")
    def types(self, endpoint):
        return ", ".join(endpoint.event_types) or "all"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        obj.secret = services.new_secret()
        obj.save()

    def response_add(self, request, obj, post_url_continue=None):
        return show_secrets(self, request, [obj], title=f"Endpoint #{obj.pk} created")

    @admin.action(
        description="Enable selected endpoints (resets their failure count)", permissions=["change"]
    )
    def enable(self, request, queryset):
        for endpoint in queryset:
            services.enable_endpoint(endpoint=endpoint)
        self.message_user(request, f"{queryset.count()} endpoint(s) enabled.", messages.SUCCESS)

    @admin.action(description="Disable selected endpoints", permissions=["change"])
    def disable(self, request, queryset):
        for endpoint in queryset:
            services.disable_endpoint(endpoint=endpoint)
        self.message_user(request, f"{queryset.count()} endpoint(s) disabled.", messages.SUCCESS)

    @admin.action(description="Rotate the secret of selected endpoints (shown once)", permissions=["change"])
    def rotate_secret(self, request, queryset):
        endpoints = [services.rotate_secret(endpoint=endpoint) for endpoint in queryset.order_by("pk")]
        return show_secrets(self, request, endpoints, title="New endpoint secrets")


class MessageTypeFilter(admin.SimpleListFilter):
    """By message type, from the known types (no query to list them)."""

    title = "type"
    parameter_name = "type"
    field = "type"

    def lookups(self, request, model_admin):
        return TYPE_CHOICES

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(**{self.field: self.value()})
        return queryset


class DeliveryMessageTypeFilter(MessageTypeFilter):
    field = "message__type"


@admin.register(WebhookMessage)
class WebhookMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "type", "user_id", "event_id", "created_at", "deliveries_link")
    list_filter = (MessageTypeFilter, "created_at")
    search_fields = ("=id", "=user_id")
    ordering = ("-created_at",)
    show_full_result_count = False

    @admin.display(description="deliveries")
    def deliveries_link(self, message):
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?message__id__exact={}">attempts</a>', url, message.pk)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every attempt; "retry now" enqueues the next attempt of the selected deliveries at once."""

    list_display = (
        "id",
        "message",
        "type",
        "endpoint",
        "attempt",
        "status",
        "status_code",
        "duration_ms",
        "error",
        "next_attempt_at",
        "created_at",
    )
    list_select_related = ("message", "endpoint")
    list_filter = ("status", DeliveryMessageTypeFilter, "endpoint", "created_at")
    search_fields = ("=message__id",)
    ordering = ("-id",)
    show_full_result_count = False
    actions = ("retry_now",)

    @admin.display(description="type", ordering="message__type")
    def type(self, delivery):
        return delivery.message.type

    def has_retry_permission(self, request):
        return request.user.has_perm("webhooks.change_webhookdelivery")

    @admin.action(description="Retry now (the next attempt, at once)", permissions=["retry"])
    def retry_now(self, request, queryset):
        result = services.retry_now(deliveries=queryset)
        self.message_user(
            request,
            f"{result.enqueued} delivery(ies) enqueued; {result.already_delivered} already delivered; "
            f"{result.endpoint_disabled} with a disabled endpoint (enable it first).",
            messages.SUCCESS if result.enqueued else messages.WARNING,
        )
