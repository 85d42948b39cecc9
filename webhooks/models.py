"""Webhook endpoints, the messages sent to them, and one row per delivery attempt."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class WebhookEndpoint(models.Model):
    """A receiver: its URL, its signing secret (whsec_...), the types it wants, and its health."""

    id = models.BigAutoField(primary_key=True)
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True, default="")
    secret = models.CharField(max_length=100, editable=False, help_text="whsec_<base64>; shown once")
    event_types = models.JSONField(
        default=list, blank=True, help_text="The message types it receives; empty: every type."
    )
    is_active = models.BooleanField(default=True)
    consecutive_failures = models.IntegerField(default=0)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "webhook endpoint"
        constraints = [
            models.CheckConstraint(
                condition=Q(consecutive_failures__gte=0), name="webhooks_endpoint_failures_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.url}"

    def wants(self, message_type: str) -> bool:
        return not self.event_types or message_type in self.event_types


class WebhookMessage(models.Model):
    """One message, as every attempt sends it: the id is the `webhook-id`, the body is signed as is.

    Written by the worker's fan-out for the messages at least one endpoint wants.
    """

    id = models.CharField(primary_key=True, max_length=255, help_text="the webhook-id header")
    type = models.CharField(max_length=64)
    user_id = models.UUIDField(null=True, blank=True)
    event_id = models.BigIntegerField(null=True, blank=True, help_text="the ledger event (StateEvent id)")
    body = models.TextField(help_text='{"type", "timestamp", "data"} as sent')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "webhook message"
        indexes = [
            models.Index(fields=["created_at"], name="webhooks_message_created_at"),
            models.Index(fields=["type"], name="webhooks_message_type"),
        ]

    def __str__(self) -> str:
        return self.id


class DeliveryStatus(models.TextChoices):
    SUCCEEDED = "succeeded", "Succeeded"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One attempt to deliver a message to an endpoint, and what came of it."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "message", "attempt"], name="webhooks_delivery_one_per_attempt"
            ),
            models.CheckConstraint(condition=Q(attempt__gte=1), name="webhooks_delivery_attempt_min"),
        ]
        indexes = [
            models.Index(fields=["status", "-id"], name="webhooks_delivery_status"),
            models.Index(fields=["created_at"], name="webhooks_delivery_created_at"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} -> #{self.endpoint_id} (attempt {self.attempt})"
