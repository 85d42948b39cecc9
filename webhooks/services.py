"""Webhooks: the outbox (an after-change consumer and publish()), endpoints, delivery, retries, purge.

The path of a message:
  1. in the change's transaction, enqueue_after_change() (the last after-change consumer) turns
     the change's ledger events into messages (webhooks.messages) and enqueues ONE job,
     fan_out(messages=...), whose queue row carries them: the outbox row, one INSERT, committed
     or rolled back with the change;
  2. a worker runs fan_out(): for each active endpoint, it signs and POSTs in turn each
     message the endpoint wants (the first attempt);
  3. the attempts are recorded together, in one transaction with the messages themselves
     (WebhookMessage, the exact body every attempt sends) and WebhookDelivery rows, and, for
     the failed ones, a deliver() job for their next attempt WEBHOOK_RETRY_BASE_SECONDS x 4^(n-1)
     later, until WEBHOOK_MAX_ATTEMPTS, after which the delivery is `failed`. An endpoint
     failing WEBHOOK_DISABLE_AFTER_FAILURES times in a row is disabled (and gets nothing more).
A change costs its request one INSERT and, when it goes well, the worker one job.
Nothing is sent from a request thread; a worker that dies mid-delivery has its job handed out
again (at-least-once, the same webhook-id), and a delivery that already succeeded, or whose
attempt was already made, is not sent again.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max, Q, Value
from django.db.models.expressions import Combinable
from django.utils import timezone

from analytics.services import count_webhook_delivery
from engagement.db import delete_in_batches
from engagement.queue import enqueue
from progression.changes import NOTHING, AfterChangeOutcome, ChangeResult
from progression.models import UserState
from webhooks import messages as wire
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage

if TYPE_CHECKING:
    from webhooks.transport import Attempt

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


# --- 2. Fan-out and the first attempt (a job) ----------------------------------------------


def body_of(message: dict) -> str:
    """The JSON body every attempt of this message sends (and signs)."""
    payload = {"type": message["type"], "timestamp": message["timestamp"], "data": message["data"]}
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def fan_out(*, messages: list[dict]) -> dict[str, str]:
    """Job: make the first attempt of each message to each active endpoint that wants it.

    Returns what happened to each (endpoint, message) as "<endpoint id> <message id>" -> outcome.
    The messages are stored (WebhookMessage) in the transaction that records the first
    endpoint's attempts. A fan-out run again (its worker died before the queue heard of it)
    finds what that transaction stored and sends only what has no attempt yet; had it not
    committed, everything is sent again (at-least-once, same webhook-ids).
    """
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True).order_by("pk"))
    wanted = {m["id"]: [e for e in endpoints if e.wants(m["type"])] for m in messages}
    wanted = {message_id: targets for message_id, targets in wanted.items() if targets}
    if not wanted:
        return {}
    stored = WebhookMessage.objects.in_bulk(list(wanted))
    new_rows = [
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
    by_id = {**stored, **{row.id: row for row in new_rows}}
    outcomes = {}
    for endpoint in endpoints:
        batch = [by_id[m["id"]] for m in messages if endpoint in wanted.get(m["id"], ())]
        if batch:
            results = send(
                endpoint=endpoint, messages=batch, attempt=1, check_made=bool(stored), new_messages=new_rows
            )
            new_rows = []  # stored with this endpoint's attempts
            outcomes.update(
                {f"{endpoint.pk} {message_id}": outcome for message_id, outcome in results.items()}
            )
    return outcomes


# --- 3. Retries (a job), sending and recording ----------------------------------------------


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt n: WEBHOOK_RETRY_BASE_SECONDS x 4^(n-1)."""
    return timedelta(seconds=float(settings.WEBHOOK_RETRY_BASE_SECONDS) * 4 ** (attempt - 1))


def deliver(*, endpoint_id: int, message_ids: list[str], attempt: int) -> dict[str, str]:
    """Job: attempt number `attempt` of these messages to one endpoint (retries, "retry now")."""
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        return dict.fromkeys(message_ids, "skipped: endpoint gone")
    stored = WebhookMessage.objects.in_bulk(message_ids)
    outcomes = {
        message_id: "skipped: message purged" for message_id in message_ids if message_id not in stored
    }
    batch = [stored[message_id] for message_id in message_ids if message_id in stored]
    outcomes.update(send(endpoint=endpoint, messages=batch, attempt=attempt, check_made=True))
    return outcomes


def _job_budget_seconds() -> float:
    """How long one job may spend sending before it hands the rest to a new job.

    The queue stops a job after Q_CLUSTER["timeout"] seconds (and hands it out again): a batch
    to a receiver that times out must never get there, or it would be retried forever.
    """
    return max(settings.Q_CLUSTER["timeout"] - settings.WEBHOOK_TIMEOUT_SECONDS - 2, 0)


def send(
    *,
    endpoint: WebhookEndpoint,
    messages: list[WebhookMessage],
    attempt: int,
    check_made: bool,
    new_messages: Sequence[WebhookMessage] = (),
) -> dict[str, str]:
    """Attempt `attempt` of each message, in order, then record every attempt in one transaction.

    Skips (without sending) a message whose delivery already succeeded or whose attempt
    `attempt` (or a later one) was made, when `check_made`; and everything once the endpoint is
    disabled. What the job's time budget leaves unsent goes to a new job, same attempt.
    """
    outcomes: dict[str, str] = {}
    if not endpoint.is_active:
        record_attempts(endpoint=endpoint, attempt=attempt, attempts=[], new_messages=new_messages)
        return {m.pk: "skipped: endpoint disabled" for m in messages}
    if check_made and messages:
        made = set(
            WebhookDelivery.objects.filter(endpoint=endpoint, message__in=messages)
            .filter(Q(status=DeliveryStatus.SUCCEEDED) | Q(attempt__gte=attempt))
            .values_list("message_id", flat=True)
        )
        outcomes = {m.pk: "skipped: already delivered or attempted" for m in messages if m.pk in made}
        messages = [m for m in messages if m.pk not in made]
    from webhooks import transport  # the HTTP client: loaded by the worker, not by every web process

    started = time.monotonic()
    attempts: list[tuple[WebhookMessage, Attempt]] = []
    deferred: list[str] = []
    failures_in_a_row = endpoint.consecutive_failures
    for message in messages:
        if failures_in_a_row >= settings.WEBHOOK_DISABLE_AFTER_FAILURES:
            outcomes[message.pk] = "skipped: endpoint disabled"
            continue
        if attempts and time.monotonic() - started > _job_budget_seconds():
            deferred.append(message.pk)
            continue
        result = transport.post(
            url=endpoint.url,
            secret=endpoint.secret,
            message_id=message.pk,
            body=message.body,
            timeout=settings.WEBHOOK_TIMEOUT_SECONDS,
        )
        attempts.append((message, result))
        failures_in_a_row = 0 if result.ok else failures_in_a_row + 1
    outcomes.update(
        record_attempts(
            endpoint=endpoint,
            attempt=attempt,
            attempts=attempts,
            deferred=deferred,
            new_messages=new_messages,
        )
    )
    return outcomes


def record_attempts(
    *,
    endpoint: WebhookEndpoint,
    attempt: int,
    attempts: list[tuple[WebhookMessage, Attempt]],
    deferred: Sequence[str] = (),
    new_messages: Sequence[WebhookMessage] = (),
) -> dict[str, str]:
    """Store the attempts, queue the next attempt of the failed ones, keep the endpoint's count.

    One transaction (with the messages not stored yet, `new_messages`), so a recorded failure
    always has its next attempt queued. Failed messages of one attempt number share their
    retry job (same backoff).
    """
    now = timezone.now()
    last = attempt >= settings.WEBHOOK_MAX_ATTEMPTS
    next_attempt_at = None if last else now + backoff(attempt)
    rows: list[WebhookDelivery] = []
    failed: list[str] = []
    outcomes: dict[str, str] = {}
    for message, result in attempts:
        if result.ok:
            status = DeliveryStatus.SUCCEEDED
        else:
            status = DeliveryStatus.FAILED if last else DeliveryStatus.RETRYING
            failed.append(message.pk)
        outcomes[message.pk] = status
        rows.append(
            WebhookDelivery(
                endpoint=endpoint,
                message=message,
                attempt=attempt,
                status=status,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error[:500],
                next_attempt_at=None if result.ok else next_attempt_at,
            )
        )
    if not (rows or deferred or new_messages):
        return outcomes
    with transaction.atomic():
        # A duplicate run of this job (its worker presumed dead) may have recorded some first.
        WebhookMessage.objects.bulk_create(new_messages, ignore_conflicts=True)
        WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True)
        if failed and not last:
            enqueue(
                DELIVER,
                endpoint_id=endpoint.pk,
                message_ids=failed,
                attempt=attempt + 1,
                not_before=next_attempt_at,
            )
        if deferred:
            enqueue(DELIVER, endpoint_id=endpoint.pk, message_ids=list(deferred), attempt=attempt)
            outcomes.update(dict.fromkeys(deferred, "deferred: sent by a new job"))
        if attempts:
            _keep_failure_count(endpoint, [result.ok for _, result in attempts])
        # The overview's deliveries chart and engagement_webhook_deliveries_total{result}.
        for outcome, count in Counter(str(delivery.status) for delivery in rows).items():
            count_webhook_delivery(result=outcome, at=now, count=count)
    for message, result in attempts:
        if not result.ok:
            logger.warning(
                "webhook %s to endpoint %s: attempt %s %s (%s)%s",
                message.pk,
                endpoint.pk,
                attempt,
                "failed" if last else "failed, will retry",
                result.error or f"HTTP {result.status_code}",
                f", next at {next_attempt_at.isoformat()}" if next_attempt_at else "",
            )
    return outcomes


def _keep_failure_count(endpoint: WebhookEndpoint, oks: list[bool]) -> None:
    """Count failures in a row (a success resets it); disable the endpoint at the limit.

    Requires a transaction; `oks` are the attempts just made, in order.
    """
    trailing = len(oks) - 1 - max((i for i, ok in enumerate(oks) if ok), default=-1)
    if trailing == len(oks):
        if not trailing:
            return
        count: Combinable = F("consecutive_failures") + trailing
    elif trailing == 0 and not endpoint.consecutive_failures:
        return  # the usual case: it stays at 0, no write
    else:
        count = Value(trailing)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(consecutive_failures=count)
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    disabled = WebhookEndpoint.objects.filter(
        pk=endpoint.pk, is_active=True, consecutive_failures__gte=limit
    ).update(
        is_active=False, disabled_reason=f"{limit} consecutive failed attempts", updated_at=timezone.now()
    )
    endpoint.refresh_from_db(fields=["consecutive_failures", "is_active"])
    if disabled:
        logger.warning("webhook endpoint %s disabled after %s consecutive failures", endpoint.pk, limit)


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
    from webhooks import transport

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
    return sum(
        delete_in_batches(model.objects.filter(created_at__lt=cutoff), batch=batch)
        for model in (WebhookDelivery, WebhookMessage)
    )
