"""Input and output shapes of the account endpoints."""

from rest_framework import serializers

from accounts.models import User
from engagement.serializers import StrictSerializer


class RegisterInputSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False, style={"input_type": "password"})
    display_name = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")


class LoginInputSerializer(StrictSerializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInputSerializer(StrictSerializer):
    refresh = serializers.CharField(max_length=2048)


class ProfileUpdateInputSerializer(StrictSerializer):
    """PATCH me/: every field is optional; an empty body changes nothing."""

    display_name = serializers.CharField(max_length=64, allow_blank=True, required=False)


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
