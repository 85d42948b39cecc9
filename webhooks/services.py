"""Webhooks: the outbox (an after-change consumer and publish()), endpoints, delivery, retries, purge.

The path of a message:
  1. in the change's transaction, enqueue_after_change() (the last after-change consumer) turns
     the change's ledger events into messages (webhooks.messages) and enqueues ONE job,
     fan_out(messages=...), whose queue row carries them: the outbox row, one INSERT, committed
     or rolled back with the change;
  2. a worker runs fan_out(): it stores each message some active endpoint wants
     (WebhookMessage, the exact body every attempt sends) and enqueues one deliver() job per
     endpoint with the change's messages for it, in one transaction, once (a repeated fan-out
     finds its messages stored);
  3. deliver() signs and POSTs each message in turn, records each attempt (WebhookDelivery)
     and, on a failure, enqueues that message's next attempt WEBHOOK_RETRY_BASE_SECONDS x
     4^(n-1) later, until WEBHOOK_MAX_ATTEMPTS, then the delivery is `failed`. An endpoint
     failing WEBHOOK_DISABLE_AFTER_FAILURES times in a row is disabled (and gets nothing more).
Nothing is sent from a request thread; a worker that dies mid-delivery has its job handed out
again (at-least-once, the same webhook-id), and a delivery that already succeeded, or whose
attempt was already made, is not sent again.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from engagement.queue import enqueue
from progression.changes import NOTHING, AfterChangeOutcome, ChangeResult
from progression.models import UserState
from webhooks import messages as wire
from webhooks import transport
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage

logger = logging.getLogger(__name__)

FAN_OUT = "webhooks.services.fan_out"
DELIVER = "webhooks.services.deliver"
SECRET_PREFIX = "whsec_"


# --- 1. The outbox ------------------------------------------------------------------------


def enqueue_after_change(*, state: UserState, change: ChangeResult) -> AfterChangeOutcome:
    """After-change consumer, listed last: the change's messages as one job in its transaction.

    Sees every event of the change (auto-claims included) and the rewards it unlocked. Writes
    one row (the job), nothing else; runs with the user's lock held.
    """
    messages = wire.change_messages(change)
    if messages:
        enqueue(FAN_OUT, messages=messages)
    return NOTHING


def publish(*, type: str, key: str, data: dict, moment: datetime | None = None) -> dict:
    """Send a message that is not a user's ledger event (leaderboard.finalized), like the outbox.

    Call it inside the transaction whose outcome it reports: the job commits or rolls back
    with it. `key` makes the webhook-id (msg_<type>_<key>), so publishing the same fact twice
    (a job run again) sends it once per endpoint.
    """
    if type not in wire.TYPES:
        raise ValueError(f"unknown message type {type!r}")
    message = wire.message(
        id=wire.message_id(type, key), type=type, moment=moment or timezone.now(), data=data
    )
    enqueue(FAN_OUT, messages=[message])
    return message


# --- 2. Fan-out (a job) -------------------------------------------------------------------


def body_of(message: dict) -> str:
    """The JSON body every attempt of this message sends (and signs)."""
    payload = {"type": message["type"], "timestamp": message["timestamp"], "data": message["data"]}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def fan_out(*, messages: list[dict]) -> int:
    """Job: store the messages active endpoints want; enqueue one delivery job per endpoint.

    Returns how many (endpoint, message) deliveries it enqueued. One transaction: a fan-out
    run again (its worker died before the queue heard of it) finds its messages stored and
    enqueues nothing twice.
    """
    with transaction.atomic():
        endpoints = list(WebhookEndpoint.objects.filter(is_active=True).order_by("pk"))
        wanted = {m["id"]: [e.pk for e in endpoints if e.wants(m["type"])] for m in messages}
        wanted = {message_id: targets for message_id, targets in wanted.items() if targets}
        if not wanted:
            return 0
        stored = set(WebhookMessage.objects.filter(pk__in=list(wanted)).values_list("pk", flat=True))
        rows = [
            WebhookMessage(
                id=message["id"],
                type=message["type"],
                user_id=message["data"].get("user_id"),
                event_id=message["data"].get("event_id"),
                body=body_of(message),
            )
            for message in messages
            if message["id"] in wanted and message["id"] not in stored
        ]
        WebhookMessage.objects.bulk_create(rows)
        count = 0
        for endpoint in endpoints:
            ids = [row.id for row in rows if endpoint.pk in wanted[row.id]]
            if ids:
                enqueue(DELIVER, endpoint_id=endpoint.pk, message_ids=ids, attempt=1)
                count += len(ids)
    return count


# --- 3. Delivery (a job) ------------------------------------------------------------------


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt n: WEBHOOK_RETRY_BASE_SECONDS x 4^(n-1)."""
    return timedelta(seconds=float(settings.WEBHOOK_RETRY_BASE_SECONDS) * 4 ** (attempt - 1))


def deliver(*, endpoint_id: int, message_ids: list[str], attempt: int = 1) -> dict[str, str]:
    """Job: attempt number `attempt` of each message to one endpoint, in order; what happened to each.

    A message is not sent when the endpoint is gone or disabled, the message was purged, its
    delivery already succeeded, or this attempt (or a later one, "retry now") was already made.
    """
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return dict.fromkeys(message_ids, "skipped: endpoint gone")
    messages = WebhookMessage.objects.in_bulk(message_ids)
    made = set(
        WebhookDelivery.objects.filter(endpoint=endpoint, message_id__in=message_ids)
        .filter(Q(status=DeliveryStatus.SUCCEEDED) | Q(attempt__gte=attempt))
        .values_list("message_id", flat=True)
    )
    outcomes = {}
    for message_id in message_ids:
        message = messages.get(message_id)
        if not endpoint.is_active:
            outcomes[message_id] = "skipped: endpoint disabled"
        elif message is None:
            outcomes[message_id] = "skipped: message purged"
        elif message_id in made:
            outcomes[message_id] = "skipped: already delivered or attempted"
        else:
            result = transport.post(
                url=endpoint.url,
                secret=endpoint.secret,
                message_id=message.pk,
                body=message.body,
                timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
            )
            outcomes[message_id] = record_attempt(
                endpoint=endpoint, message=message, attempt=attempt, result=result
            )
    return outcomes


def record_attempt(
    *, endpoint: WebhookEndpoint, message: WebhookMessage, attempt: int, result: transport.Attempt
) -> str:
    """Store the attempt, schedule the next one after a failure, and keep the endpoint's count.

    One transaction, so a recorded failure always has its next attempt queued. Updates
    `endpoint` in memory (its failure count, and is_active when this failure disabled it).
    """
    now = timezone.now()
    next_attempt_at = None
    if result.ok:
        status = DeliveryStatus.SUCCEEDED
    elif attempt < settings.WEBHOOK_MAX_ATTEMPTS:
        status = DeliveryStatus.RETRYING
        next_attempt_at = now + backoff(attempt)
    else:
        status = DeliveryStatus.FAILED
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                endpoint=endpoint,
                message=message,
                attempt=attempt,
                status=status,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error[:500],
                next_attempt_at=next_attempt_at,
            )
            if next_attempt_at is not None:
                enqueue(
                    DELIVER,
                    endpoint_id=endpoint.pk,
                    message_ids=[message.pk],
                    attempt=attempt + 1,
                    not_before=next_attempt_at,
                )
            if result.ok:
                if endpoint.consecutive_failures:
                    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=0)
                    endpoint.consecutive_failures = 0
            elif _count_failure(endpoint):
                endpoint.is_active = False
    except IntegrityError:  # a duplicate run of this job recorded this attempt first
        return "skipped: attempt recorded by another run"
    if not result.ok:
        logger.warning(
            "webhook %s to endpoint %s: attempt %s %s (%s)%s",
            message.pk,
            endpoint.pk,
            attempt,
            "failed" if status == DeliveryStatus.FAILED else "failed, will retry",
            result.error or f"HTTP {result.status_code}",
            f", next at {next_attempt_at.isoformat()}" if next_attempt_at else "",
        )
    return status


def _count_failure(endpoint: WebhookEndpoint) -> bool:
    """One more failure in a row; disables the endpoint at the limit. True when it did."""
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, is_active=True, consecutive_failures__gte=limit
    ).update(
        is_active=False,
        disabled_reason=f"{limit} consecutive failed attempts",
        updated_at=timezone.now(),
    )
    if disabled:
        logger.warning("webhook endpoint %s disabled after %s consecutive failures", endpoint.pk, limit)
    return bool(disabled)


@dataclass(frozen=True)
class RetryResult:
    enqueued: int
    already_delivered: int
    endpoint_disabled: int


def retry_now(*, deliveries) -> RetryResult:
    """Enqueue, for immediate delivery, the next attempt of each (endpoint, message) given.

    Deliveries that succeeded are left alone; so are those whose endpoint is disabled (enable
    it first). The scheduled attempt, if any, then finds this one made and sends nothing.
    """
    pairs = {(d.endpoint_id, d.message_id) for d in deliveries}
    enqueued = delivered = disabled = 0
    with transaction.atomic():
        for endpoint_id, message_id in sorted(pairs):
            rows = WebhookDelivery.objects.filter(endpoint_id=endpoint_id, message_id=message_id)
            if rows.filter(status=DeliveryStatus.SUCCEEDED).exists():
                delivered += 1
                continue
            if not WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=True).exists():
                disabled += 1
                continue
            last = rows.aggregate(last=Max("attempt"))["last"] or 0
            enqueue(DELIVER, endpoint_id=endpoint_id, message_ids=[message_id], attempt=last + 1)
            enqueued += 1
    return RetryResult(enqueued=enqueued, already_delivered=delivered, endpoint_disabled=disabled)


# --- Endpoints ----------------------------------------------------------------------------


def new_secret() -> str:
    """whsec_ + base64 of 32 random bytes, the Standard Webhooks secret format."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def validate_endpoint(*, url: str, event_types: list[str]) -> None:
    """ValidationError (by field) for a URL the SSRF guard refuses or an unknown type."""
    errors = {}
    try:
        transport.check_url(url)
    except transport.UnsafeTarget as exc:
        errors["url"] = [str(exc)]
    unknown = sorted(set(event_types) - set(wire.TYPES))
    if unknown:
        errors["event_types"] = [f"Unknown type(s): {', '.join(unknown)}. Known: {', '.join(wire.TYPES)}."]
    if errors:
        raise ValidationError(errors)


def create_endpoint(
    *, url: str, event_types: list[str] | None = None, description: str = ""
) -> WebhookEndpoint:
    """A new endpoint with a fresh secret (its `secret` is for the creator to show once)."""
    event_types = list(dict.fromkeys(event_types or []))
    validate_endpoint(url=url, event_types=event_types)
    return WebhookEndpoint.objects.create(
        url=url, event_types=event_types, description=description, secret=new_secret()
    )


def rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """A fresh secret for the endpoint (returned on it, for the caller to show once)."""
    endpoint.secret = new_secret()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(secret=endpoint.secret, updated_at=timezone.now())
    return endpoint


def disable_endpoint(*, endpoint: WebhookEndpoint, reason: str = "disabled by an operator") -> None:
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=False, disabled_reason=reason[:200], updated_at=timezone.now()
    )


def enable_endpoint(*, endpoint: WebhookEndpoint) -> None:
    """Active again, its failure count reset (its failed deliveries can then be retried)."""
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        is_active=True, consecutive_failures=0, disabled_reason="", updated_at=timezone.now()
    )


# --- Periodic -----------------------------------------------------------------------------


def purge_deliveries(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Delete messages and delivery records older than WEBHOOK_DELIVERY_RETENTION; returns how many."""
    cutoff = (now or timezone.now()) - settings.WEBHOOK_DELIVERY_RETENTION
    deleted = 0
    for model in (WebhookDelivery, WebhookMessage):
        while True:
            ids = list(model.objects.filter(created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
            if not ids:
                break
            deleted += model.objects.filter(pk__in=ids).delete()[1].get(model._meta.label, 0)
    return deleted
