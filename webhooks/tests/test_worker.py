"""Webhooks end to end with real worker processes (manage.py run_worker) and a real HTTP receiver.

The tests are transactional: what they write is committed, so the workers (separate processes on
the test database) see it. Every delivery is verified by the receiver with the standardwebhooks
library, with the endpoint's secret.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from django.db import connection
from django_q.models import OrmQ
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import UserFactory
from engagement.db import held_writes
from engagement.testing import SERVER_TEST_MARKS, WebhookReceiver, eventually, run_in_threads, running_workers
from inventory.services import seed_tools
from inventory.tests.helpers import assert_ledger_clean, client_for, grant_loyalty, noon
from progression.models import EventKind, StateEvent
from progression.services import check_in
from rewards.services import seed_rewards
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookMessage
from webhooks.services import create_endpoint

pytestmark = SERVER_TEST_MARKS

API = "/api/v1"
DAY_1 = date(2026, 3, 2)


@pytest.fixture
def seeded(db):
    seed_tools()
    seed_rewards()


def endpoint_for(receiver: WebhookReceiver, **kwargs):
    endpoint = create_endpoint(url=receiver.url, **kwargs)
    receiver.secret = endpoint.secret
    return endpoint


def post_on(day: date, user, path: str, body: dict | None = None):
    """A request made at noon on `day` (UTC), with a token minted then."""
    with time_machine.travel(noon(day), tick=False):
        return client_for(user).post(f"{API}/{path}", body or {}, format="json")


def settled(succeeded: int):
    """A check for eventually(): `succeeded` deliveries recorded and every job acknowledged."""

    def check() -> bool:
        done = WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() >= succeeded
        return done and not OrmQ.objects.exists()

    return check


def ledger_ids(user, kind: str) -> list[int]:
    return list(StateEvent.objects.filter(user=user, kind=kind).order_by("id").values_list("id", flat=True))


def test_worker_when_check_ins_buy_and_use_then_receiver_verifies_every_signed_message(
    seeded, tmp_path, settings
):
    settings.WEBHOOK_ALLOW_INSECURE = True
    user = UserFactory()
    with WebhookReceiver() as receiver:
        endpoint_for(receiver)
        for offset in range(3):  # day 3: energy reaches 100 (level 2) and streak_3 unlocks
            assert post_on(DAY_1 + timedelta(days=offset), user, "checkins/").status_code == 201
        grant_loyalty(user, 20)
        assert (
            post_on(DAY_1 + timedelta(days=3), user, "tools/coffee/buy/", {"quantity": 1}).status_code == 201
        )
        assert post_on(DAY_1 + timedelta(days=3), user, "inventory/coffee/use/").status_code == 200

        check_ins = ledger_ids(user, EventKind.CHECK_IN)
        (grant,) = ledger_ids(user, EventKind.ADJUSTMENT)
        (purchase,) = ledger_ids(user, EventKind.TOOL_PURCHASE)
        (use,) = ledger_ids(user, EventKind.TOOL_USE)
        expected = {
            *(f"msg_{event}_check_in.created" for event in check_ins),
            *(f"msg_{event}_streak.extended" for event in check_ins),
            f"msg_{check_ins[2]}_level.up",
            f"msg_{check_ins[2]}_reward.unlocked_streak_3",
            f"msg_{grant}_state.adjusted",
            f"msg_{purchase}_tool.purchased",
            f"msg_{use}_tool.used",
        }
        with running_workers(tmp_path):
            receiver.wait_for_ids(expected)
            eventually(settled(len(expected)))
        received = {r.webhook_id: r for r in receiver.ok()}

    assert all(r.verified for r in receiver.received), [
        r.webhook_id for r in receiver.received if not r.verified
    ]
    assert set(received) == expected
    assert len(receiver.received) == len(expected)  # each once
    body = {webhook_id: r.payload for webhook_id, r in received.items()}
    for webhook_id, payload in body.items():
        assert set(payload) == {"type", "timestamp", "data"}
        assert webhook_id.startswith(f"msg_{payload['data']['event_id']}_{payload['type']}")
        assert payload["data"]["user_id"] == str(user.pk)
        assert payload["timestamp"].endswith("Z")

    first = body[f"msg_{check_ins[0]}_check_in.created"]
    assert first["type"] == "check_in.created"
    assert first["data"]["day"] == DAY_1.isoformat()
    assert first["data"]["kind"] == "check_in"
    assert first["data"]["deltas"]["energy"] == 20
    assert first["data"]["deltas"]["loyalty"] == 5
    assert first["data"]["result"]["streak"] == 1
    assert first["data"]["result"]["last_checkin_day"] == DAY_1.isoformat()
    assert body[f"msg_{check_ins[1]}_streak.extended"]["data"] == {
        "user_id": str(user.pk),
        "event_id": check_ins[1],
        "streak": 2,
        "previous_streak": 1,
        "longest_streak": 2,
    }
    level_up = body[f"msg_{check_ins[2]}_level.up"]
    assert level_up["type"] == "level.up"
    assert level_up["data"] == {
        "user_id": str(user.pk),
        "event_id": check_ins[2],
        "level": 2,
        "previous_level": 1,
    }
    unlocked = body[f"msg_{check_ins[2]}_reward.unlocked_streak_3"]
    assert unlocked["type"] == "reward.unlocked"
    assert unlocked["data"]["reward"] == "streak_3"
    assert unlocked["data"]["auto_claimed"] is False
    bought = body[f"msg_{purchase}_tool.purchased"]
    assert bought["type"] == "tool.purchased"
    assert bought["data"]["tool"] == "coffee"
    assert bought["data"]["quantity"] == 1
    assert bought["data"]["deltas"]["loyalty"] == -10
    assert bought["data"]["deltas"]["inventory_count"] == 1
    used = body[f"msg_{use}_tool.used"]
    assert used["type"] == "tool.used"
    assert used["data"]["tool"] == "coffee"
    assert used["data"]["deltas"]["energy"] == 15
    assert used["data"]["deltas"]["inventory_count"] == -1
    assert used["data"]["result"]["inventory_count"] == 0
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == len(expected)
    assert not OrmQ.objects.exists()  # every job acknowledged
    assert_ledger_clean()


def test_worker_when_changes_roll_back_then_nothing_of_them_is_sent(seeded, tmp_path, settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    settings.ENGAGEMENT_AFTER_CHANGE = [
        *settings.ENGAGEMENT_AFTER_CHANGE,
        "webhooks.tests.test_worker.explode",
    ]
    user = UserFactory()
    with WebhookReceiver() as receiver:
        endpoint_for(receiver)
        # 1. An exception after the ledger write (and after the outbox consumer), inside the transaction.
        with pytest.raises(RuntimeError):
            check_in(user=user, today=DAY_1)
        assert not StateEvent.objects.exists()
        settings.ENGAGEMENT_AFTER_CHANGE = settings.ENGAGEMENT_AFTER_CHANGE[:-1]
        # 2. A refused purchase (409 insufficient_loyalty).
        assert post_on(DAY_1, user, "tools/focus/buy/").status_code == 409
        # 3. A failed check-in (409 already_checked_in), after one that succeeds.
        assert post_on(DAY_1, user, "checkins/").status_code == 201
        assert post_on(DAY_1, user, "checkins/").status_code == 409
        (sent,) = ledger_ids(user, EventKind.CHECK_IN)
        expected = {f"msg_{sent}_check_in.created", f"msg_{sent}_streak.extended"}
        with running_workers(tmp_path):
            receiver.wait_for_ids(expected)
            time.sleep(1)  # time for anything else to arrive, if anything else were queued
    assert {r.webhook_id for r in receiver.received} == expected
    assert set(WebhookMessage.objects.values_list("id", flat=True)) == expected
    assert_ledger_clean()


def explode(*, state, change):
    """An after-change consumer that fails once the ledger event is written and the outbox job
    queued (written, or on PostgreSQL held back to the end of the pipeline)."""
    assert StateEvent.objects.filter(pk=change.events[0].pk).exists()
    assert OrmQ.objects.exists() or held_writes() > 0
    raise RuntimeError("after the ledger write")


def test_worker_when_receiver_fails_twice_then_attempt_three_delivers_with_the_same_id(
    seeded, tmp_path, settings
):
    settings.WEBHOOK_ALLOW_INSECURE = True
    base = 0.2
    user = UserFactory()
    with WebhookReceiver(respond=lambda webhook_id, attempt: 500 if attempt <= 2 else 200) as receiver:
        endpoint_for(receiver, event_types=["check_in.created"])
        check_in(user=user, today=DAY_1)
        (event,) = ledger_ids(user, EventKind.CHECK_IN)
        webhook_id = f"msg_{event}_check_in.created"
        with running_workers(tmp_path, WEBHOOK_RETRY_BASE_SECONDS=str(base)):
            receiver.wait_for_ids([webhook_id])
            eventually(settled(1))
    assert [r.status for r in receiver.received] == [500, 500, 200]
    assert {r.webhook_id for r in receiver.received} == {webhook_id}
    assert len({r.body for r in receiver.received}) == 1  # the same bytes on every attempt
    assert all(r.verified for r in receiver.received)
    waits = [
        later.at - earlier.at
        for earlier, later in zip(receiver.received, receiver.received[1:], strict=False)
    ]
    assert waits[0] >= base * 0.9 and waits[1] >= base * 4 * 0.9  # 0.2 s, then 0.8 s
    attempts = list(
        WebhookDelivery.objects.filter(message_id=webhook_id)
        .order_by("attempt")
        .values_list("attempt", "status", "status_code")
    )
    assert attempts == [
        (1, DeliveryStatus.RETRYING, 500),
        (2, DeliveryStatus.RETRYING, 500),
        (3, DeliveryStatus.SUCCEEDED, 200),
    ]
    first, second = WebhookDelivery.objects.filter(message_id=webhook_id).order_by("attempt")[:2]
    assert first.next_attempt_at - first.created_at == pytest.approx(
        timedelta(seconds=base), abs=timedelta(seconds=0.1)
    )
    assert second.next_attempt_at - second.created_at == pytest.approx(
        timedelta(seconds=base * 4), abs=timedelta(seconds=0.1)
    )


def test_worker_when_receiver_always_fails_then_failed_after_max_attempts_and_retry_now_delivers(
    seeded, tmp_path, settings, admin_client
):
    settings.WEBHOOK_ALLOW_INSECURE = True
    healthy = threading.Event()
    user = UserFactory()
    with WebhookReceiver(respond=lambda webhook_id, attempt: 200 if healthy.is_set() else 503) as receiver:
        endpoint = endpoint_for(receiver, event_types=["check_in.created"])
        check_in(user=user, today=DAY_1)
        (event,) = ledger_ids(user, EventKind.CHECK_IN)
        webhook_id = f"msg_{event}_check_in.created"
        with running_workers(tmp_path, WEBHOOK_RETRY_BASE_SECONDS="0.01", WEBHOOK_MAX_ATTEMPTS="6"):
            receiver.wait_for(lambda r: len(r.received) == 6)
            deadline = time.monotonic() + 10
            while not WebhookDelivery.objects.filter(status=DeliveryStatus.FAILED).exists():
                assert time.monotonic() < deadline, list(
                    WebhookDelivery.objects.values_list("attempt", "status")
                )
                time.sleep(0.05)
            attempts = list(WebhookDelivery.objects.order_by("attempt").values_list("attempt", "status"))
            assert attempts == [(n, DeliveryStatus.RETRYING) for n in range(1, 6)] + [
                (6, DeliveryStatus.FAILED)
            ]
            time.sleep(0.5)
            assert len(receiver.received) == 6  # nothing after the last attempt

            healthy.set()
            failed = WebhookDelivery.objects.get(status=DeliveryStatus.FAILED)
            response = admin_client.post(
                "/admin/webhooks/webhookdelivery/",
                {"action": "retry_now", "_selected_action": [failed.pk]},
                follow=True,
            )
            assert response.status_code == 200
            assert "1 delivery(ies) enqueued" in response.content.decode()
            receiver.wait_for_ids([webhook_id])
            eventually(settled(1))
    assert [r.status for r in receiver.received] == [503] * 6 + [200]
    assert {r.webhook_id for r in receiver.received} == {webhook_id}
    last = WebhookDelivery.objects.order_by("-attempt").first()
    assert (last.attempt, last.status, last.status_code) == (7, DeliveryStatus.SUCCEEDED, 200)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.is_active


def test_worker_when_sigkilled_mid_delivery_then_a_restarted_worker_delivers_the_same_id(
    seeded, tmp_path, settings
):
    settings.WEBHOOK_ALLOW_INSECURE = True
    first_request = threading.Event()
    release = threading.Event()
    held_ids = []

    def respond(webhook_id, attempt):
        if not first_request.is_set():
            held_ids.append(webhook_id)
            first_request.set()
            release.wait(30)  # hold the first delivery until its worker is dead
        return 200

    users = UserFactory.create_batch(3)
    with WebhookReceiver(respond=respond) as receiver:
        endpoint_for(receiver)
        for user in users:
            check_in(user=user, today=DAY_1)
        expected = {
            f"msg_{event}_{kind}"
            for event in StateEvent.objects.values_list("id", flat=True)
            for kind in ("check_in.created", "streak.extended")
        }
        worker_env = {"WORKER_RETRY_SECONDS": "6", "WORKER_PROCESSES": "1"}
        with running_workers(tmp_path / "first", **worker_env) as (worker,):
            assert first_request.wait(30), worker.log()
            worker.kill()  # SIGKILL the whole worker mid-delivery
        release.set()
        (held,) = held_ids
        assert not WebhookDelivery.objects.filter(message_id=held).exists()  # the attempt never finished
        with running_workers(tmp_path / "second", **worker_env):
            receiver.wait_for_ids(expected, timeout=90)
            eventually(settled(len(expected)))
    assert all(r.verified for r in receiver.received)
    by_id = [r.webhook_id for r in receiver.received]
    assert by_id.count(held) == 2  # handed out again after the crash, with the same webhook-id
    assert len({r.body for r in receiver.received if r.webhook_id == held}) == 1
    assert set(by_id) == expected
    assert WebhookDelivery.objects.filter(status=DeliveryStatus.SUCCEEDED).count() == len(expected)
    assert WebhookMessage.objects.count() == len(expected)


def test_worker_when_web_process_is_sigkilled_after_commits_then_every_committed_change_is_sent(
    seeded, tmp_path, settings
):
    """SIGKILL gunicorn (master and workers) while check-ins are in flight, as soon as some have
    committed: every committed check-in is delivered after a worker starts, nothing else is."""
    from engagement.testing import running_gunicorn

    settings.WEBHOOK_ALLOW_INSECURE = True
    users = UserFactory.create_batch(40)
    headers = [{"Authorization": f"Bearer {AccessToken.for_user(user)}"} for user in users]
    with WebhookReceiver() as receiver:
        endpoint_for(receiver, event_types=["check_in.created"])
        with running_gunicorn(tmp_path, workers=2) as base_url:
            server = web_server_processes(base_url)
            killed = threading.Event()

            def kill_after_commits(commits: int) -> None:
                try:
                    deadline = time.monotonic() + 30
                    while StateEvent.objects.count() < commits and time.monotonic() < deadline:
                        time.sleep(0.005)
                    for pid in server:
                        os.kill(pid, signal.SIGKILL)
                    killed.set()
                finally:
                    connection.close()

            def post_check_in(index: int) -> int | None:
                try:
                    response = httpx.post(f"{base_url}/api/v1/checkins/", headers=headers[index], timeout=10)
                except httpx.HTTPError:
                    return None  # the server died under this request
                return response.status_code

            killer = threading.Thread(target=kill_after_commits, args=(3,))
            killer.start()
            statuses = run_in_threads(len(users), post_check_in, timeout=60)
            killer.join(40)
            assert killed.is_set()
        committed = ledger_ids_all(EventKind.CHECK_IN)
        assert committed and None in statuses, statuses  # some committed, some were cut off
        assert statuses.count(201) <= len(committed)
        expected = {f"msg_{event}_check_in.created" for event in committed}
        with running_workers(tmp_path):
            receiver.wait_for_ids(expected, timeout=90)
            time.sleep(1)
    assert {r.webhook_id for r in receiver.received} == expected  # nothing for what did not commit
    assert all(r.verified for r in receiver.received)
    assert_ledger_clean()


def ledger_ids_all(kind: str) -> list[int]:
    return list(StateEvent.objects.filter(kind=kind).values_list("id", flat=True))


def web_server_processes(base_url: str) -> list[int]:
    """The pids of the gunicorn master serving `base_url` (a child of this process) and its workers."""
    port = base_url.rsplit(":", 1)[1]
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    master = next(
        pid
        for pid, parent in parents.items()
        if parent == os.getpid() and f"127.0.0.1:{port}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    return [master, *(pid for pid, parent in parents.items() if parent == master)]


def test_two_workers_when_a_thousand_messages_then_each_webhook_id_is_delivered_exactly_once(
    seeded, tmp_path, settings
):
    settings.WEBHOOK_ALLOW_INSECURE = True
    users = UserFactory.create_batch(50)
    with WebhookReceiver() as receiver:
        endpoint_for(receiver)
        for offset in range(10):  # 50 users x 10 days x (check_in.created + streak.extended)
            for user in users:
                check_in(user=user, today=DAY_1 + timedelta(days=offset))
        expected = {
            f"msg_{event}_{kind}"
            for event in StateEvent.objects.filter(kind=EventKind.CHECK_IN).values_list("id", flat=True)
            for kind in ("check_in.created", "streak.extended")
        }
        # streak_3 and streak_7 unlock (and streak_7 is auto-claimed) on the way: only check-in
        # messages are counted below, the rest must arrive exactly once too.
        assert len(expected) == 1000
        started = time.monotonic()
        with running_workers(tmp_path, count=2):
            receiver.wait_for_ids(expected, timeout=120)
            elapsed = time.monotonic() - started
            eventually(lambda: not OrmQ.objects.exists(), timeout=60)  # every job done and acknowledged
            all_ids = set(WebhookMessage.objects.values_list("id", flat=True))
            time.sleep(1)
    received = [r.webhook_id for r in receiver.received]
    assert len(received) == len(set(received)) == len(all_ids)  # exactly once each
    assert expected <= set(received)
    assert all(r.status == 200 for r in receiver.received)
    assert WebhookDelivery.objects.count() == len(all_ids)
    print(f"{len(received)} messages in {elapsed:.1f} s with 2 workers")
