"""The admin login locks out brute force (django-axes), and leaves the API's login alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "operator-password-93"


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_superuser(email="op@example.com", password=PASSWORD)


def admin_login(email: str, password: str, address: str = "192.0.2.10") -> tuple[Client, object]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": email, "password": password})
    return client, response


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def fail(times: int, email: str, *, addresses=None) -> None:
    """`times` wrong passwords: the form again with its error, and the lockout from the limit on."""
    for n in range(times):
        address = addresses[n] if addresses else "192.0.2.10"
        _, response = admin_login(email, f"wrong-{n}", address)
        assert response.status_code == (429 if n + 1 >= settings.AXES_FAILURE_LIMIT else 200)


def test_admin_login_after_5_failures_refuses_even_the_right_password(operator):
    fail(settings.AXES_FAILURE_LIMIT, operator.email)

    client, response = admin_login(operator.email, PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert int(response["Retry-After"]) == 15 * 60
    assert "Content-Security-Policy" in response
    assert not logged_in(client)


def test_admin_lockout_counts_one_email_across_addresses_and_spellings(operator):
    addresses = [f"198.51.100.{n + 1}" for n in range(settings.AXES_FAILURE_LIMIT)]
    for n, address in enumerate(addresses):
        spelling = operator.email.upper() if n % 2 else operator.email
        admin_login(spelling, f"wrong-{n}", address)

    client, response = admin_login(operator.email, PASSWORD, "203.0.113.9")

    assert response.status_code == 429
    assert not logged_in(client)


def test_admin_lockout_locks_an_address_trying_many_emails(operator):
    for n in range(settings.AXES_FAILURE_LIMIT):
        admin_login(f"guess{n}@example.com", "wrong", "2001:db8:5:6::1")

    client, response = admin_login(operator.email, PASSWORD, "2001:db8:5:6::beef")  # same /64

    assert response.status_code == 429
    assert not logged_in(client)


def test_admin_login_works_again_after_the_cool_off(operator, time_machine):
    time_machine.move_to(datetime(2030, 3, 1, 10, 0, tzinfo=UTC), tick=False)
    fail(settings.AXES_FAILURE_LIMIT, operator.email)
    assert admin_login(operator.email, PASSWORD)[1].status_code == 429

    time_machine.shift(timedelta(minutes=16))
    client, response = admin_login(operator.email, PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_admin_login_under_the_limit_then_right_password_logs_in(operator):
    fail(settings.AXES_FAILURE_LIMIT - 1, operator.email)

    client, response = admin_login(operator.email, PASSWORD)

    assert response.status_code == 302
    assert logged_in(client)


def test_api_login_failures_are_left_to_the_api_throttles_not_recorded_by_axes(api_client, operator):
    for n in range(3):
        response = api_client.post(
            "/api/v1/auth/token/", {"email": operator.email, "password": f"wrong-{n}"}, format="json"
        )
        assert response.status_code == 401

    assert not AccessAttempt.objects.exists()
    _, response = admin_login(operator.email, PASSWORD)
    assert response.status_code == 302


def test_api_login_still_works_while_the_admin_login_is_locked(api_client, operator):
    fail(settings.AXES_FAILURE_LIMIT, operator.email)

    response = api_client.post(
        "/api/v1/auth/token/", {"email": operator.email, "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.content
