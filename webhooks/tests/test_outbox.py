"""The outbox: a change's messages are one job queued in its transaction, or nothing when it rolls back.

The jobs are read from the queue table and, where a test needs what they do, run in this
process (engagement.testing.run_queued_jobs); test_worker.py runs real workers.
"""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction
from django_q.models import OrmQ

from engagement.testing import WebhookReceiver, queued_jobs, run_queued_jobs
from inventory.services import use_tool
from inventory.tests.helpers import API, error_code, grant_loyalty, stock
from progression.models import EventKind, StateEvent
from progression.services import check_in
from webhooks.models import WebhookMessage
from webhooks.services import FAN_OUT, create_endpoint, disable_endpoint, fan_out, publish

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 2)


def fan_out_messages() -> list[list[dict]]:
    return [job["kwargs"]["messages"] for job in queued_jobs(FAN_OUT)]


def test_check_in_api_when_created_then_one_job_carries_its_messages(auth_client, user, catalog):
    response = auth_client.post(f"{API}/checkins/")
    assert response.status_code == 201
    event = StateEvent.objects.get(user=user)
    (messages,) = fan_out_messages()
    assert [m["id"] for m in messages] == [
        f"msg_{event.pk}_check_in.created",
        f"msg_{event.pk}_streak.extended",
    ]
    assert OrmQ.objects.count() == 1


def test_check_in_when_streak_7_auto_claimed_then_the_job_has_the_claim_and_the_unlocks(user, catalog):
    for day in range(1, 8):
        check_in(user=user, today=date(2026, 3, day))
    last = fan_out_messages()[-1]
    types = [m["type"] for m in last]
    assert types == ["check_in.created", "streak.extended", "reward.claimed", "reward.unlocked"]
    assert last[2]["data"]["reward"] == "streak_7" and last[2]["data"]["auto_claimed"] is True
    assert len(queued_jobs(FAN_OUT)) == 7  # one job per change


def test_refused_purchase_when_answered_409_then_nothing_is_queued(auth_client, user, catalog):
    response = auth_client.post(f"{API}/tools/focus/buy/")
    assert response.status_code == 409 and error_code(response) == "insufficient_loyalty"
    assert not OrmQ.objects.exists()


def test_second_check_in_when_refused_then_only_the_first_is_queued(auth_client, user, catalog):
    assert auth_client.post(f"{API}/checkins/").status_code == 201
    response = auth_client.post(f"{API}/checkins/")
    assert response.status_code == 409 and error_code(response) == "already_checked_in"
    assert len(queued_jobs(FAN_OUT)) == 1


def explode(*, state, change):
    raise RuntimeError("after the ledger write")


def test_change_when_an_exception_follows_the_ledger_write_then_nothing_is_queued(user, catalog, settings):
    settings.ENGAGEMENT_AFTER_CHANGE = [
        *settings.ENGAGEMENT_AFTER_CHANGE,
        "webhooks.tests.test_outbox.explode",
    ]
    with pytest.raises(RuntimeError):
        check_in(user=user, today=DAY)
    assert not StateEvent.objects.exists()
    assert not OrmQ.objects.exists()


def test_publish_when_its_transaction_rolls_back_then_nothing_is_queued():
    with pytest.raises(RuntimeError), transaction.atomic():
        publish(type="leaderboard.finalized", key="weekly:2026-03-02", data={"board": "weekly"})
        assert OrmQ.objects.count() == 1
        raise RuntimeError("rolled back")
    assert not OrmQ.objects.exists()


def test_publish_when_committed_then_one_message_with_an_id_from_type_and_key():
    message = publish(type="leaderboard.finalized", key="weekly:2026-03-02", data={"board": "weekly"})
    assert message["id"] == "msg_leaderboard.finalized_weekly:2026-03-02"
    assert fan_out_messages() == [[message]]
    with pytest.raises(ValueError, match="unknown message type"):
        publish(type="leaderboard.won", key="x", data={})


def test_fan_out_when_endpoints_filter_types_then_each_gets_what_it_wants(user, catalog, settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    with WebhookReceiver() as receiver:
        every = create_endpoint(url=f"{receiver.url}/all")
        checkins_only = create_endpoint(url=f"{receiver.url}/checkins", event_types=["check_in.created"])
        disable_endpoint(endpoint=create_endpoint(url=f"{receiver.url}/off"))
        check_in(user=user, today=DAY)
        (outcomes,) = run_queued_jobs(FAN_OUT)
    event = StateEvent.objects.get(user=user, kind=EventKind.CHECK_IN)
    created, extended = f"msg_{event.pk}_check_in.created", f"msg_{event.pk}_streak.extended"
    assert outcomes == {
        f"{every.pk} {created}": "succeeded",
        f"{every.pk} {extended}": "succeeded",
        f"{checkins_only.pk} {created}": "succeeded",
    }
    assert len(receiver.received) == 3
    stored = WebhookMessage.objects.get(pk=created)
    assert stored.user_id == user.pk and stored.event_id == event.pk and stored.type == "check_in.created"
    assert stored.body.startswith('{"type":"check_in.created","timestamp":')


def test_fan_out_when_run_twice_then_nothing_is_stored_or_sent_twice(user, catalog, settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    with WebhookReceiver() as receiver:
        create_endpoint(url=receiver.url)
        check_in(user=user, today=DAY)
        (job,) = queued_jobs(FAN_OUT)
        first = fan_out(**job["kwargs"])
        again = fan_out(**job["kwargs"])  # the job handed out again after a crash
    assert set(first.values()) == {"succeeded"}
    assert set(again.values()) == {"skipped: already delivered or attempted"}
    assert WebhookMessage.objects.count() == 2
    assert len(receiver.received) == 2


def test_fan_out_when_no_endpoint_wants_it_then_nothing_is_stored(user, catalog):
    check_in(user=user, today=DAY)
    assert run_queued_jobs(FAN_OUT) == [{}]
    assert not WebhookMessage.objects.exists()
    assert not OrmQ.objects.exists()


def test_buy_and_use_when_queued_then_types_follow_the_ledger(user, catalog):
    grant_loyalty(user, 10)
    stock(user, coffee=1)
    use_tool(user=user, slug="coffee")
    types = [[m["type"] for m in messages] for messages in fan_out_messages()]
    assert types == [["state.adjusted"], ["state.adjusted"], ["tool.purchased"], ["tool.used"]]
