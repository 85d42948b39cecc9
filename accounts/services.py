"""Account writes: registration, profile update, logout."""

from __future__ import annotations

import jwt
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User, normalize_email
from engagement.errors import EmailTaken, InvalidRefreshToken, WeakPassword
from progression.services import ensure_state


def register_user(*, email: str, password: str, display_name: str = "") -> User:
    """Create the user and its progression state (progression.services) in one transaction."""
    email = normalize_email(email)
    candidate = User(email=email, display_name=display_name)
    try:
        validate_password(password, user=candidate)
    except DjangoValidationError as exc:
        raise WeakPassword(fields={"password": list(exc.messages)}) from exc
    if User.objects.filter(email=email).exists():
        raise EmailTaken()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, display_name=display_name)
            ensure_state(user)
    except IntegrityError as exc:
        # Two registrations raced past the exists() check; the unique index decided.
        raise EmailTaken() from exc
    return user


def issue_tokens(user: User) -> dict[str, str]:
    refresh = RefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


def rotate_refresh(*, refresh: str) -> dict[str, str]:
    """A new token pair for a refresh token, which is blacklisted: exactly once.

    The row lock on the token's OutstandingToken serializes concurrent replays of one token,
    so only the first gets a pair; the others then find it blacklisted.
    """
    try:
        jti = jwt.decode(refresh, options={"verify_signature": False}).get("jti")
    except jwt.PyJWTError as exc:
        raise InvalidRefreshToken() from exc
    with transaction.atomic():
        if isinstance(jti, str):
            list(OutstandingToken.objects.select_for_update(of=("self",)).filter(jti=jti).order_by())
        serializer = TokenRefreshSerializer(data={"refresh": refresh})
        try:
            serializer.is_valid(raise_exception=True)
        except (TokenError, AuthenticationFailed) as exc:
            raise InvalidRefreshToken() from exc
        return serializer.validated_data


def update_profile(*, user: User, display_name: str | None = None) -> User:
    """Change the fields given; with none given, nothing is written."""
    if display_name is not None:
        user.display_name = display_name
        user.save(update_fields=["display_name"])
    return user


def logout(*, user: User, refresh: str) -> None:
    """Blacklist a refresh token that belongs to this user."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt takes the encoded token
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    if str(token.get("user_id")) != str(user.pk):
        raise InvalidRefreshToken()
    token.blacklist()
