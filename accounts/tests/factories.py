"""Factories for users (with their state, as registration creates it) and token clients."""

import factory
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from progression.services import ensure_state

DEFAULT_PASSWORD = "correct-horse-battery-9"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("first_name")
    password = factory.django.Password(DEFAULT_PASSWORD)

    @factory.post_generation
    def with_state(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            ensure_state(obj)


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client
