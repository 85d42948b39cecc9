"""Argon2id at OWASP's minimum parameters, and old hashes upgraded on the next login."""

import argon2
import pytest
from django.contrib.auth.hashers import Argon2PasswordHasher, identify_hasher, make_password

from accounts.hashers import OWASPArgon2PasswordHasher
from accounts.models import User
from accounts.tests.factories import UserFactory
from engagement import settings as project_settings

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
REGISTER = "/api/v1/auth/register/"
PASSWORD = "plum-orbit-castle-71"


def argon2_parameters(encoded: str) -> argon2.Parameters:
    algorithm, rest = encoded.split("$", 1)
    assert algorithm == "argon2"
    return argon2.extract_parameters("$" + rest)


@pytest.fixture
def production_hashers(settings):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS


def test_production_hashers_when_read_then_owasp_argon2id_first():
    assert project_settings.PASSWORD_HASHERS[0] == "accounts.hashers.OWASPArgon2PasswordHasher"


def test_hash_when_made_then_argon2id_19_mib_two_passes_one_lane(production_hashers):
    parameters = argon2_parameters(make_password(PASSWORD))

    assert parameters.type is argon2.Type.ID
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19456, 2, 1)


def test_register_when_production_hashers_then_stored_hash_has_owasp_parameters(
    api_client, production_hashers
):
    response = api_client.post(REGISTER, {"email": "ann@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 201, response.content
    parameters = argon2_parameters(User.objects.get().password)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (19456, 2, 1)


def test_login_when_hash_has_django_default_parameters_then_rehashed_with_owasp_ones(
    api_client, production_hashers
):
    old = Argon2PasswordHasher()
    user = UserFactory(email="ann@example.com")
    User.objects.filter(pk=user.pk).update(password=old.encode(PASSWORD, old.salt()))
    before = argon2_parameters(User.objects.get(pk=user.pk).password)
    assert (before.memory_cost, before.parallelism) == (102400, 8)

    response = api_client.post(TOKEN, {"email": "ann@example.com", "password": PASSWORD}, format="json")

    assert response.status_code == 200, response.content
    stored = User.objects.get(pk=user.pk).password
    after = argon2_parameters(stored)
    assert (after.memory_cost, after.time_cost, after.parallelism) == (19456, 2, 1)
    assert isinstance(identify_hasher(stored), OWASPArgon2PasswordHasher)
    # The new hash logs in too.
    again = api_client.post(TOKEN, {"email": "ann@example.com", "password": PASSWORD}, format="json")
    assert again.status_code == 200, again.content


def test_login_when_wrong_password_against_old_hash_then_401_and_hash_unchanged(
    api_client, production_hashers
):
    old = Argon2PasswordHasher()
    user = UserFactory(email="ann@example.com")
    encoded = old.encode(PASSWORD, old.salt())
    User.objects.filter(pk=user.pk).update(password=encoded)

    wrong = {"email": "ann@example.com", "password": "wrong-" + PASSWORD}
    response = api_client.post(TOKEN, wrong, format="json")

    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert User.objects.get(pk=user.pk).password == encoded
