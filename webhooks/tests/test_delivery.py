"""One delivery job run in this process against a real local receiver: signing, records, retries, limits."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta

import pytest
from django.db.models import Sum
from django_q.models import OrmQ
from standardwebhooks.webhooks import Webhook

from analytics.models import DailyCount
from analytics.rules import Metric
from engagement.testing import WebhookReceiver, queued_jobs, run_queued_jobs
from progression.services import check_in
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage
from webhooks.services import (
    DELIVER,
    FAN_OUT,
    create_endpoint,
    deliver,
    enable_endpoint,
    fan_out,
    publish,
    retry_now,
)

pytestmark = pytest.mark.django_db


def counted_deliveries() -> dict[str, int]:
    """The attempts the overview and /metrics count, by result (the daily rollup)."""
    rows = (
        DailyCount.objects.filter(metric=Metric.WEBHOOK_DELIVERIES)
        .values_list("subgroup")
        .annotate(total=Sum("value"))
    )
    return dict(rows)


DAY = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _insecure(settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    settings.WEBHOOK_RETRY_BASE_SECONDS = 30


def first_attempts(count: int = 1) -> list[str]:
    """`count` messages published in one change and fanned out (their first attempts made); their ids."""
    messages = [
        publish(type="state.adjusted", key=f"test-{n:02}", data={"user_id": None, "event_id": n})
        for n in range(count)
    ]
    queued_jobs(FAN_OUT)[0]["row"].delete()  # run below as one job, as a change's messages are
    fan_out(messages=messages)
    OrmQ.objects.filter(pk__in=[job["row"].pk for job in queued_jobs(FAN_OUT)]).delete()
    return [message["id"] for message in messages]


def test_deliver_when_receiver_answers_200_then_signed_body_and_one_succeeded_record(user, catalog):
    with WebhookReceiver() as receiver:
        endpoint = create_endpoint(url=receiver.url)
        receiver.secret = endpoint.secret
        check_in(user=user, today=DAY)
        (outcomes,) = run_queued_jobs(FAN_OUT)
    assert list(outcomes.values()) == ["succeeded", "succeeded"]
    assert not queued_jobs()
    first = receiver.received[0]
    assert first.verified
    # Any Standard Webhooks library verifies it with the secret alone.
    payload = Webhook(endpoint.secret).verify(
        first.body,
        {
            "webhook-id": first.webhook_id,
            "webhook-timestamp": first.timestamp,
            "webhook-signature": first.signature,
        },
    )
    assert payload["type"] == "check_in.created"
    assert first.signature.startswith("v1,")
    assert first.body.decode() == WebhookMessage.objects.get(pk=first.webhook_id).body
    records = WebhookDelivery.objects.order_by("id")
    assert [(r.attempt, r.status, r.status_code, r.next_attempt_at) for r in records] == [
        (1, DeliveryStatus.SUCCEEDED, 200, None),
        (1, DeliveryStatus.SUCCEEDED, 200, None),
    ]
    assert counted_deliveries() == {"succeeded": 2}


def test_deliver_when_receiver_fails_then_retrying_and_next_attempt_queued_after_backoff():
    with WebhookReceiver(respond=lambda webhook_id, attempt: 500) as receiver:
        create_endpoint(url=receiver.url)
        (message_id,) = first_attempts()
    record = WebhookDelivery.objects.get()
    assert (record.attempt, record.status, record.status_code) == (1, DeliveryStatus.RETRYING, 500)
    assert record.next_attempt_at - record.created_at == pytest.approx(
        timedelta(seconds=30), abs=timedelta(seconds=1)
    )
    (job,) = queued_jobs(DELIVER)
    assert job["kwargs"] == {"endpoint_id": record.endpoint_id, "message_ids": [message_id], "attempt": 2}
    assert job["not_before"] == record.next_attempt_at  # no worker takes it earlier


@pytest.mark.parametrize(("attempt", "wait"), [(1, 30), (2, 120), (3, 480), (4, 1920), (5, 7680)])
def test_backoff_when_attempt_n_fails_then_base_times_four_to_the_n_minus_one(attempt, wait):
    from webhooks.services import backoff

    assert backoff(attempt) == timedelta(seconds=wait)


def test_deliver_when_last_attempt_fails_then_failed_and_nothing_more_queued(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 6
    with WebhookReceiver(respond=lambda webhook_id, attempt: 502) as receiver:
        endpoint = create_endpoint(url=receiver.url)
        (message_id,) = first_attempts()
        assert deliver(endpoint_id=endpoint.pk, message_ids=[message_id], attempt=6) == {message_id: "failed"}
    record = WebhookDelivery.objects.get(attempt=6)
    assert (record.status, record.next_attempt_at) == (DeliveryStatus.FAILED, None)
    assert [job["kwargs"]["attempt"] for job in queued_jobs(DELIVER)] == [2]  # attempt 1's retry only
    assert counted_deliveries() == {"retrying": 1, "failed": 1}


def test_deliver_when_attempt_already_made_or_delivered_then_nothing_is_sent_again():
    with WebhookReceiver() as receiver:
        endpoint = create_endpoint(url=receiver.url)
        (message_id,) = first_attempts()
        again = deliver(endpoint_id=endpoint.pk, message_ids=[message_id], attempt=1)
        later = deliver(endpoint_id=endpoint.pk, message_ids=[message_id], attempt=2)
    assert len(receiver.received) == 1
    assert again == later == {message_id: "skipped: already delivered or attempted"}


def test_deliver_when_receiver_is_too_slow_then_timeout_recorded(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.1
    release = threading.Event()
    with WebhookReceiver(respond=lambda webhook_id, attempt: release.wait(5) and 200) as receiver:
        create_endpoint(url=receiver.url)
        started = time.monotonic()
        first_attempts()
        elapsed = time.monotonic() - started
        release.set()
    record = WebhookDelivery.objects.get()
    assert record.status == DeliveryStatus.RETRYING and record.status_code is None
    assert "timeout" in record.error.lower()
    assert elapsed < 2


def test_deliver_when_nothing_listens_then_connection_error_recorded():
    create_endpoint(url="http://127.0.0.1:9/hooks")  # discard port: refused
    first_attempts()
    record = WebhookDelivery.objects.get()
    assert record.status == DeliveryStatus.RETRYING
    assert record.status_code is None and "Connect" in record.error


def test_endpoint_when_fifty_consecutive_failures_then_disabled_and_skipped(settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    with WebhookReceiver(respond=lambda webhook_id, attempt: 500) as receiver:
        endpoint = create_endpoint(url=receiver.url)
        first_attempts(52)
        publish(type="state.adjusted", key="after", data={"user_id": None, "event_id": 99})
        later = run_queued_jobs(FAN_OUT)
    statuses = list(WebhookDelivery.objects.order_by("message_id").values_list("status", flat=True))
    assert statuses == [DeliveryStatus.FAILED] * 50  # the 51st and 52nd were not sent
    assert len(receiver.received) == 50
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert endpoint.consecutive_failures == 50
    assert "50 consecutive" in endpoint.disabled_reason
    assert later == [{}]  # a disabled endpoint gets nothing more


def test_endpoint_when_a_delivery_succeeds_then_failure_count_resets():
    answers = iter([500, 500, 200])
    with WebhookReceiver(respond=lambda webhook_id, attempt: next(answers)) as receiver:
        endpoint = create_endpoint(url=receiver.url)
        first_attempts(3)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.is_active


def test_retry_now_when_failed_then_next_attempt_queued_at_once_and_delivered():
    status = {"code": 500}
    with WebhookReceiver(respond=lambda webhook_id, attempt: status["code"]) as receiver:
        endpoint = create_endpoint(url=receiver.url)
        (message_id,) = first_attempts()
        status["code"] = 200
        result = retry_now(deliveries=WebhookDelivery.objects.all())
        assert (result.enqueued, result.already_delivered, result.endpoint_disabled) == (1, 0, 0)
        immediate = [job for job in queued_jobs(DELIVER) if job["kwargs"]["attempt"] == 2]
        assert len(immediate) == 2  # the scheduled retry (later) and this one (now)
        now_job = min(immediate, key=lambda job: job["not_before"])
        assert now_job["not_before"] <= WebhookDelivery.objects.get().next_attempt_at
        outcomes = run_queued_jobs(DELIVER)
    assert outcomes == [{message_id: "succeeded"}, {message_id: "skipped: already delivered or attempted"}]
    assert [r.status for r in receiver.received] == [500, 200]
    assert retry_now(deliveries=WebhookDelivery.objects.all()).already_delivered == 1
    assert endpoint.pk


def test_retry_now_when_endpoint_disabled_then_not_queued_until_enabled():
    with WebhookReceiver(respond=lambda webhook_id, attempt: 500) as receiver:
        endpoint = create_endpoint(url=receiver.url)
        first_attempts()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
    before = len(queued_jobs(DELIVER))
    assert retry_now(deliveries=WebhookDelivery.objects.all()).endpoint_disabled == 1
    assert len(queued_jobs(DELIVER)) == before
    enable_endpoint(endpoint=endpoint)
    assert retry_now(deliveries=WebhookDelivery.objects.all()).enqueued == 1


def test_purge_deliveries_when_older_than_thirty_days_then_messages_and_attempts_go():
    from django.utils import timezone

    from webhooks.services import purge_deliveries

    with WebhookReceiver() as receiver:
        create_endpoint(url=receiver.url)
        old, recent = first_attempts(2)
    now = timezone.now()
    WebhookMessage.objects.filter(pk=old).update(created_at=now - timedelta(days=31))
    WebhookDelivery.objects.filter(message_id=old).update(created_at=now - timedelta(days=31))
    assert purge_deliveries(now=now) == 2
    assert list(WebhookMessage.objects.values_list("id", flat=True)) == [recent]
    assert list(WebhookDelivery.objects.values_list("message_id", flat=True)) == [recent]
