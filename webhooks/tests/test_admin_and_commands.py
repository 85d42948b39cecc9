"""Operators: manage.py webhook_endpoint add|list|disable, and the webhooks admin (secret shown once,
filters by status and type, "retry now")."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from standardwebhooks.webhooks import Webhook

from engagement.testing import WebhookReceiver, queued_jobs, run_queued_jobs
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from webhooks.services import DELIVER, FAN_OUT, create_endpoint, publish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _insecure(settings):
    settings.WEBHOOK_ALLOW_INSECURE = True


def run(*args) -> str:
    out = StringIO()
    call_command("webhook_endpoint", *args, stdout=out)
    return out.getvalue()


def test_add_when_valid_then_prints_id_and_a_working_secret():
    out = run("add", "--url", "https://hooks.example.com/in", "--events", "check_in.created,level.up")
    endpoint_id = int(re.search(r"^id: (\d+)$", out, re.M).group(1))
    secret = re.search(r"^secret: (whsec_\S+)$", out, re.M).group(1)
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.secret == secret
    assert endpoint.event_types == ["check_in.created", "level.up"]
    signed = Webhook(secret).sign("msg_1", datetime.now(UTC), "{}")
    assert signed.startswith("v1,")


def test_add_when_types_unknown_then_exit_2_and_nothing_created():
    with pytest.raises(CommandError, match="Unknown type") as raised:
        run("add", "--url", "https://hooks.example.com/in", "--events", "check_in.created,streak.lost")
    assert raised.value.returncode == 2
    assert not WebhookEndpoint.objects.exists()


def test_add_when_target_private_and_secure_then_exit_2(settings):
    settings.WEBHOOK_ALLOW_INSECURE = False
    with pytest.raises(CommandError, match=r"--url: .*non-public") as raised:
        run("add", "--url", "https://192.168.0.10/in")
    assert raised.value.returncode == 2


def test_list_and_disable_when_called_then_show_and_stop_an_endpoint():
    endpoint = create_endpoint(url="https://hooks.example.com/in")
    assert f"{endpoint.pk}\thttps://hooks.example.com/in\tall\tactive" in run("list")
    assert "disabled" in run("disable", str(endpoint.pk))
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "disabled (disabled by an operator)" in run("list")
    assert endpoint.secret not in run("list")
    with pytest.raises(CommandError, match="No webhook endpoint with id 999") as raised:
        run("disable", "999")
    assert raised.value.returncode == 2


def test_admin_add_when_saved_then_secret_shown_once_and_never_again(admin_client):
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_add"),
        {"url": "https://hooks.example.com/in", "description": "CRM", "event_types": ["reward.claimed"]},
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.secret in response.content.decode()
    body_tag = response.content.decode().split("<body", 1)[1].split(">", 1)[0]
    assert "model-webhookendpoint" in body_tag
    assert "endpoint-secret" in body_tag
    assert 'class="breadcrumbs"' in response.content.decode()
    assert endpoint.event_types == ["reward.claimed"]
    change_page = admin_client.get(reverse("admin:webhooks_webhookendpoint_change", args=[endpoint.pk]))
    listing = admin_client.get(reverse("admin:webhooks_webhookendpoint_changelist"))
    assert endpoint.secret not in change_page.content.decode()
    assert endpoint.secret not in listing.content.decode()


def test_admin_add_when_target_is_private_then_form_error(admin_client, settings):
    settings.WEBHOOK_ALLOW_INSECURE = False
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_add"), {"url": "https://10.0.0.5/in"}
    )
    assert response.status_code == 200
    assert "non-public address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_admin_rotate_when_applied_then_new_secret_shown(admin_client):
    endpoint = create_endpoint(url="https://hooks.example.com/in")
    old = endpoint.secret
    response = admin_client.post(
        reverse("admin:webhooks_webhookendpoint_changelist"),
        {"action": "rotate_secret", "_selected_action": [endpoint.pk]},
    )
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret in response.content.decode()


def deliveries_with_statuses() -> None:
    """One message delivered (200), one failing (500), to one local receiver."""
    with WebhookReceiver(respond=lambda webhook_id, attempt: 200 if "ok" in webhook_id else 500) as receiver:
        create_endpoint(url=receiver.url)
        publish(type="state.adjusted", key="ok", data={"user_id": None, "event_id": 1})
        publish(type="level.up", key="bad", data={"user_id": None, "event_id": 2})
        run_queued_jobs(FAN_OUT)  # the first attempts


def test_admin_deliveries_when_filtered_by_status_and_type_then_only_those(admin_client):
    deliveries_with_statuses()
    url = reverse("admin:webhooks_webhookdelivery_changelist")
    failing = admin_client.get(url, {"status__exact": "retrying"}).context["cl"].result_list
    assert [d.message_id for d in failing] == ["msg_level.up_bad"]
    by_type = admin_client.get(url, {"type": "state.adjusted"}).context["cl"].result_list
    assert [(d.message_id, d.status) for d in by_type] == [
        ("msg_state.adjusted_ok", DeliveryStatus.SUCCEEDED)
    ]
    page = admin_client.get(url).content.decode()
    assert "Retry now" in page


def test_admin_retry_now_when_applied_then_next_attempt_queued_at_once(admin_client):
    deliveries_with_statuses()
    failing = WebhookDelivery.objects.get(status=DeliveryStatus.RETRYING)
    before = len(queued_jobs(DELIVER))
    response = admin_client.post(
        reverse("admin:webhooks_webhookdelivery_changelist"),
        {"action": "retry_now", "_selected_action": [failing.pk]},
        follow=True,
    )
    assert "1 delivery(ies) enqueued" in response.content.decode()
    jobs = queued_jobs(DELIVER)
    assert len(jobs) == before + 1
    assert jobs[-1]["kwargs"] == {
        "endpoint_id": failing.endpoint_id,
        "message_ids": ["msg_level.up_bad"],
        "attempt": 2,
    }


def test_admin_deliveries_when_staff_without_change_permission_then_no_retry_action(
    client, django_user_model
):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user(
        email="viewer@example.com", password="x" * 12, is_staff=True
    )
    staff.user_permissions.add(Permission.objects.get(codename="view_webhookdelivery"))
    client.force_login(staff)
    deliveries_with_statuses()
    page = client.get(reverse("admin:webhooks_webhookdelivery_changelist"))
    assert page.status_code == 200
    assert "Retry now" not in page.content.decode()
