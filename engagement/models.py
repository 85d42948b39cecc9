"""Cross-cutting models: stored responses of Idempotency-Key requests."""

from django.db import models


class IdempotencyKey(models.Model):
    """The first response to a (scope, key) request, replayed to repeats for 24 h.

    scope is "user:<uuid>" for authenticated requests and "ip:<address>" for registration.
    response_body never holds a usable token (engagement.idempotency.seal_tokens).
    """

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=80)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="HMAC-SHA256 (keyed by the server secret) of method, path and body"
    )
    status_code = models.PositiveSmallIntegerField(null=True)
    response_body = models.TextField(blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "idempotency key"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "key"], name="engagement_idempotencykey_scope_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["created_at"], name="engagement_idem_created_at"),
            # The newest keys of a scope first: the bound on live keys per scope.
            models.Index(fields=["scope", "id"], name="engagement_idem_scope_id"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
