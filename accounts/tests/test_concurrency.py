"""Registration races: real threads, real PostgreSQL transactions, through the HTTP stack."""

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from engagement.testing import assert_ledger_clean, run_in_threads
from progression.models import UserState

REGISTER = "/api/v1/auth/register/"
ROUNDS = 5


def _race_registrations(emails: list[str], remote_addr: str) -> list:
    """POST register/ once per email, all threads released together; returns the responses."""

    def register(index: int):
        client = APIClient(REMOTE_ADDR=remote_addr)
        return client.post(
            REGISTER, {"email": emails[index], "password": "plum-orbit-castle-71"}, format="json"
        )

    return run_in_threads(len(emails), register)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_register_same_email_from_two_threads_one_201_one_409_one_row():
    for round_number in range(ROUNDS):
        # Same address in two letter cases; a fresh client IP per round keeps the
        # register throttle (5/min per IP) out of the picture.
        email = f"race{round_number}@example.com"
        responses = _race_registrations([email, email.upper()], remote_addr=f"10.0.0.{round_number + 1}")

        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409], [r.content for r in responses]
        loser = next(r for r in responses if r.status_code == 409)
        assert loser.json()["error"]["code"] == "email_taken"
        assert User.objects.filter(email=email).count() == 1
        assert UserState.objects.filter(user__email=email).count() == 1

    assert User.objects.count() == ROUNDS
    assert_ledger_clean()
