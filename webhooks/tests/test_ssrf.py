"""The SSRF guard: https and public addresses only, checked at creation and again at every connection."""

from __future__ import annotations

import socket

import pytest
from django.core.exceptions import ValidationError

from engagement.testing import WebhookReceiver
from webhooks import transport
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookMessage
from webhooks.services import create_endpoint, fan_out, publish

REFUSED_HOSTS = [
    "127.0.0.1",
    "127.1.2.3",
    "localhost",
    "[::1]",
    "10.0.0.8",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # the cloud metadata service
    "[fe80::1]",
    "[fc00::1]",
    "[::ffff:127.0.0.1]",
    "[::ffff:10.0.0.1]",
    "0.0.0.0",
    "100.64.0.1",
    "224.0.0.1",
]


@pytest.fixture
def secure(settings):
    settings.WEBHOOK_ALLOW_INSECURE = False


@pytest.fixture
def public_dns(monkeypatch):
    """DNS, outside the process: names resolve to what the test says (rebinding included)."""
    answers: dict[str, list[str]] = {"hooks.example.com": ["93.184.215.14"]}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in address else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (address, port),
                )
                for address in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_check_url_when_host_is_not_public_then_refused(secure, host):
    with pytest.raises(transport.UnsafeTarget, match="non-public"):
        transport.check_url(f"https://{host}/hooks")


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_check_url_when_insecure_allowed_then_any_host_passes(settings, host):
    settings.WEBHOOK_ALLOW_INSECURE = True
    transport.check_url(f"http://{host}/hooks")


def test_check_url_when_http_then_refused_unless_insecure(secure, public_dns, settings):
    with pytest.raises(transport.UnsafeTarget, match="https"):
        transport.check_url("http://hooks.example.com/in")
    transport.check_url("https://hooks.example.com/in")
    settings.WEBHOOK_ALLOW_INSECURE = True
    transport.check_url("http://hooks.example.com/in")


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.com/", "https:///nohost", "https://user:pw@hooks.example.com/"]
)
def test_check_url_when_not_a_plain_absolute_url_then_refused(secure, public_dns, url):
    with pytest.raises(transport.UnsafeTarget):
        transport.check_url(url)


def test_check_url_when_a_name_resolves_to_a_private_address_then_refused(secure, public_dns):
    public_dns["internal.example.com"] = ["93.184.215.14", "10.1.2.3"]  # one bad answer is enough
    with pytest.raises(transport.UnsafeTarget, match=r"10\.1\.2\.3"):
        transport.check_url("https://internal.example.com/hooks")


@pytest.mark.django_db
def test_create_endpoint_when_target_is_loopback_then_validation_error(secure):
    with pytest.raises(ValidationError) as caught:
        create_endpoint(url="https://127.0.0.1/hooks")
    assert "non-public" in caught.value.message_dict["url"][0]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_delivery_when_dns_rebinds_to_loopback_then_refused_before_connecting(secure, public_dns, settings):
    """Created while its name pointed at a public address; by delivery time it points at loopback."""
    with WebhookReceiver() as receiver:
        port = receiver.url.split(":")[2].split("/")[0]
        endpoint = create_endpoint(url=f"https://hooks.example.com:{port}/hooks")
        public_dns["hooks.example.com"] = ["127.0.0.1"]  # rebinding
        message = publish(type="state.adjusted", key="rebind", data={"user_id": None, "event_id": 1})
        outcome = fan_out(messages=[message])
    assert outcome == {f"{endpoint.pk} {message['id']}": "retrying"}
    assert receiver.received == []  # never connected
    record = WebhookDelivery.objects.get()
    assert record.status == DeliveryStatus.RETRYING
    assert "non-public address (127.0.0.1)" in record.error
    assert WebhookMessage.objects.count() == 1


@pytest.mark.django_db
def test_delivery_when_insecure_allowed_then_loopback_receiver_gets_it(settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    with WebhookReceiver() as receiver:
        endpoint = create_endpoint(url=receiver.url)
        message = publish(type="state.adjusted", key="local", data={"user_id": None, "event_id": 1})
        assert fan_out(messages=[message]) == {f"{endpoint.pk} {message['id']}": "succeeded"}
    assert len(receiver.received) == 1


@pytest.mark.django_db
def test_delivery_when_endpoint_became_http_and_insecure_was_turned_off_then_refused(settings):
    settings.WEBHOOK_ALLOW_INSECURE = True
    with WebhookReceiver() as receiver:
        create_endpoint(url=receiver.url)
        message = publish(type="state.adjusted", key="off", data={"user_id": None, "event_id": 1})
        settings.WEBHOOK_ALLOW_INSECURE = False
        fan_out(messages=[message])
    assert receiver.received == []
    assert "https" in WebhookDelivery.objects.get().error
