"""Input and output shapes of the account endpoints."""

import functools
from zoneinfo import available_timezones

from django.contrib.auth.password_validation import (
    MinimumLengthValidator,
    NumericPasswordValidator,
    get_default_password_validators,
    password_validators_help_texts,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import RegexValidator
from rest_framework import serializers

from accounts.emails import clean_new_email
from accounts.models import User
from engagement.serializers import StrictSerializer

PASSWORD_MAX_LENGTH = 128


def password_min_length() -> int:
    """The shortest password AUTH_PASSWORD_VALIDATORS accept (their MinimumLengthValidator)."""
    lengths = [
        v.min_length for v in get_default_password_validators() if isinstance(v, MinimumLengthValidator)
    ]
    return max(lengths, default=1)


# Not only digits (NumericPasswordValidator), and no NUL, as a pattern the schema can state.
NOT_ONLY_DIGITS = RegexValidator(
    r"\A[^\u0000]*[^0-9\u0000][^\u0000]*\Z",
    message="This password is entirely numeric.",
    code="password_entirely_numeric",
)


def _password_rules() -> list[RegexValidator]:
    numeric = any(isinstance(v, NumericPasswordValidator) for v in get_default_password_validators())
    return [NOT_ONLY_DIGITS] if numeric else []


def new_password_field(**kwargs) -> serializers.CharField:
    """A password being chosen, with the rules of AUTH_PASSWORD_VALIDATORS the schema can state.

    Length and "not only digits" are checked here too, so the schema's minLength, maxLength and
    pattern are exactly the server's; the rules JSON Schema cannot express (not a common
    password, not like the email) are in the description, and the service enforces them all.
    """
    return serializers.CharField(
        min_length=password_min_length(),
        max_length=PASSWORD_MAX_LENGTH,
        trim_whitespace=False,
        validators=_password_rules(),
        style={"input_type": "password"},
        help_text=" ".join(password_validators_help_texts()),
        **kwargs,
    )


class NewEmailField(serializers.EmailField):
    """An address to register: normalized and screened (accounts.emails), then validated."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return clean_new_email(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc

    def run_validation(self, data=serializers.empty):
        # Validators (length, email syntax) judge the normalized address, not what was typed.
        (is_empty, data) = self.validate_empty_values(data)
        if is_empty:
            return data
        value = self.to_internal_value(data)
        self.run_validators(value)
        return value


class RegisterInputSerializer(StrictSerializer):
    email = NewEmailField(max_length=254)
    password = new_password_field()
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class LoginInputSerializer(StrictSerializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=PASSWORD_MAX_LENGTH, trim_whitespace=False)


class RefreshInputSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=2048)


class LogoutInputSerializer(StrictSerializer):
    """Either the refresh token to revoke, or `all: true` to end every session of the user."""

    refresh = serializers.CharField(max_length=2048, required=False)
    all = serializers.BooleanField(required=False, default=False)

    # The OpenAPI body says the same as validate(): a refresh token (with `all` absent or false),
    # or `all: true` alone.
    openapi_one_of = [
        {"required": ["refresh"], "properties": {"all": {"enum": [False]}}},
        {"required": ["all"], "properties": {"all": {"enum": [True]}}, "not": {"required": ["refresh"]}},
    ]

    def validate(self, attrs):
        if attrs.get("all") and "refresh" in attrs:
            raise serializers.ValidationError({"all": ["Give either refresh or all: true, not both."]})
        if not attrs.get("all") and "refresh" not in attrs:
            raise serializers.ValidationError(
                {"refresh": ["This field is required (or send all: true to end every session)."]}
            )
        return attrs


class PasswordChangeInputSerializer(StrictSerializer):
    current_password = serializers.CharField(max_length=128, trim_whitespace=False)
    new_password = new_password_field()


@functools.cache
def time_zone_names() -> list[str]:
    """The IANA zone names zoneinfo knows, sorted."""
    return sorted(available_timezones())


class ProfileUpdateInputSerializer(StrictSerializer):
    """PATCH me/: every field is optional; an empty body changes nothing.

    `timezone` and `day_start_hour` change at most once per week (the first change is free).
    """

    display_name = serializers.CharField(max_length=64, allow_blank=True, required=False)
    timezone = serializers.ChoiceField(
        choices=time_zone_names(), required=False, help_text="IANA time zone name of your local day."
    )
    day_start_hour = serializers.IntegerField(
        min_value=0, max_value=23, required=False, help_text="Hour (0..23) at which your local day starts."
    )
    leaderboard_visible = serializers.BooleanField(
        required=False, help_text="false hides you from every leaderboard and from others' ranks."
    )


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "leaderboard_visible", "date_joined"]
        read_only_fields = fields


_DATE_JOINED = serializers.DateTimeField()


def user_data(user: User) -> dict:
    """UserOutputSerializer(user).data, without building the serializer's fields per request.

    Every authenticated GET me/ renders it (accounts/tests/test_render.py holds the two equal).
    """
    return {
        "id": str(user.id),
        "email": user.email,
        "display_name": user.display_name,
        "leaderboard_visible": user.leaderboard_visible,
        "date_joined": _DATE_JOINED.to_representation(user.date_joined),
    }


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterOutputSerializer(TokenPairOutputSerializer):
    user = UserOutputSerializer()
