"""The shared test toolkit (engagement/testing.py and the root fixtures) does what its tests rely on."""

import base64
import json

import pytest

from progression.models import UserState
from progression.services import adjust_state


def test_run_threads_when_all_succeed_then_results_in_thread_order(run_threads):
    assert run_threads(4, lambda i: i * i) == [0, 1, 4, 9]


def test_run_threads_when_a_thread_raises_then_the_test_fails_with_it(run_threads):
    def work(i: int) -> int:
        if i == 2:
            raise ValueError("thread 2 failed")
        return i

    with pytest.raises(AssertionError, match="thread 2 failed"):
        run_threads(3, work)


@pytest.mark.django_db
def test_ledger_clean_when_state_bypasses_the_ledger_then_fails_naming_the_user(user, ledger_clean):
    adjust_state(user=user, loyalty=5, note="through the service")
    ledger_clean()

    UserState.objects.filter(user=user).update(loyalty=999)

    with pytest.raises(AssertionError, match=str(user.pk)):
        ledger_clean()


@pytest.mark.django_db
def test_client_for_when_token_minted_then_me_answers_for_that_user(user, client_for):
    response = client_for(user).get("/api/v1/me/")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


@pytest.mark.django_db
def test_jwt_tokens_when_claims_tampered_then_signature_kept_and_claims_changed(user, jwt_tokens):
    genuine = jwt_tokens.forged_token({"alg": "HS256"}, jwt_tokens.access_claims(user))
    tampered = jwt_tokens.tampered_token(user, user_id="someone-else")

    _, payload, _ = tampered.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["user_id"] == "someone-else"
    assert genuine.count(".") == 2
    assert jwt_tokens.token_client(tampered).get("/api/v1/me/").status_code == 401
