"""Input and output shapes of the account endpoints."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.emails import clean_new_email
from accounts.models import User
from engagement.serializers import StrictSerializer


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
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class LoginInputSerializer(StrictSerializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInputSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=2048)


class LogoutInputSerializer(StrictSerializer):
    """Either the refresh token to revoke, or `all: true` to end every session of the user."""

    refresh = serializers.CharField(max_length=2048, required=False)
    all = serializers.BooleanField(required=False, default=False)

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
    new_password = serializers.CharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )


class ProfileUpdateInputSerializer(StrictSerializer):
    display_name = serializers.CharField(max_length=64, allow_blank=True)


class UserOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "date_joined"]
        read_only_fields = fields


class TokenPairOutputSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RegisterOutputSerializer(TokenPairOutputSerializer):
    user = UserOutputSerializer()
