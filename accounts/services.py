"""Account writes: registration, login, password change, token refresh, logout, revocation."""

from __future__ import annotations

import jwt
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.emails import lookalike_key
from accounts.models import User, normalize_email
from accounts.tokens import issue_pair, token_version
from engagement.errors import (
    AccountThrottled,
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    WeakPassword,
)
from engagement.throttling import AccountLoginThrottle
from progression.services import create_state


def _require_valid_password(password: str, *, user: User, field: str) -> None:
    """WeakPassword, with `fields[field]` listing why, when the password validators refuse it."""
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise WeakPassword(fields={field: list(exc.messages)}) from exc


def register_user(*, email: str, password: str, display_name: str = "") -> User:
    """Create the user and its progression state (progression.services) in one transaction.

    `email` is taken when an account has it in any spelling, or one that looks like it
    (accounts.emails.lookalike_key); the unique constraints decide a race.
    """
    email = normalize_email(email)
    candidate = User(email=email, display_name=display_name)
    _require_valid_password(password, user=candidate, field="password")
    if User.objects.filter(Q(email=email) | Q(email_key=lookalike_key(email))).exists():
        raise EmailTaken()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, display_name=display_name)
            create_state(user)
    except IntegrityError as exc:
        # Two registrations raced past the exists() check; the unique index decided.
        raise EmailTaken() from exc
    return user


def issue_tokens(user: User) -> dict[str, str]:
    return issue_pair(user)


def _account_throttle(email: str) -> AccountLoginThrottle:
    """The failed-login window of the account `email` names (whatever its spelling)."""
    throttle = AccountLoginThrottle(account=normalize_email(email))
    if not throttle.attempt():
        raise AccountThrottled(retry_after=throttle.retry_after())
    return throttle


def log_in(*, request, email: str, password: str) -> dict[str, str]:
    """A token pair for the right email and password.

    Failures count against the account (AccountLoginThrottle) as well as the client IP (the
    view's throttle): past the account's limit every attempt answers 429, the right password
    included, until the window frees a slot.
    """
    throttle = _account_throttle(email)
    user = authenticate(request, email=email, password=password)
    if user is None:
        raise InvalidCredentials()
    throttle.succeeded()
    return issue_tokens(user)


def change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Set a new password, checked against the current one, and end every session of the user.

    A wrong current password counts as a failed login of the account (same throttle), so a
    stolen access token cannot be used to guess the password.
    """
    throttle = _account_throttle(user.email)
    if not user.check_password(current_password):
        raise InvalidCurrentPassword()
    throttle.succeeded()
    if new_password == current_password:
        raise WeakPassword(fields={"new_password": ["The new password must differ from the current one."]})
    _require_valid_password(new_password, user=user, field="new_password")
    set_password(user=user, password=new_password)


def set_password(*, user: User, password: str | None) -> None:
    """Store a new password (None: password login disabled) and revoke every session.

    The admin's password form calls this too, so an operator's reset ends the sessions of
    whoever held the old password; `manage.py changepassword` (Django's prompts, then the save
    and revoke_sessions in one transaction) does the same.
    """
    with transaction.atomic():
        if password is None:
            user.set_unusable_password()
        else:
            user.set_password(password)
        user.save(update_fields=["password"])
        revoke_sessions(user=user)


def revoke_sessions(*, user: User) -> int:
    """End every session of the user; returns how many refresh tokens were blacklisted.

    Every outstanding refresh token is blacklisted (simplejwt's blacklist app), and the
    user's token version is raised, so every access and refresh token issued before now is
    refused (accounts.tokens), also any the blacklist does not list.
    """
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
        user.refresh_from_db(fields=["token_version"])
        live = OutstandingToken.objects.filter(
            user_id=user.pk, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
        )
        blacklisted = BlacklistedToken.objects.bulk_create(
            [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
        )
    return len(blacklisted)


def rotate_refresh(*, refresh: str) -> dict[str, str]:
    """A new token pair for a refresh token, which is blacklisted: exactly once.

    The row lock on the token's OutstandingToken serializes concurrent replays of one token,
    so only the first gets a pair; the others then find it blacklisted. A token issued before
    the user's sessions were revoked is refused, blacklisted or not.
    """
    try:
        claims = jwt.decode(refresh, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise InvalidRefreshToken() from exc
    jti = claims.get("jti")
    with transaction.atomic():
        if isinstance(jti, str):
            list(OutstandingToken.objects.select_for_update(of=("self",)).filter(jti=jti).order_by())
        # The claims are not verified yet (the serializer below does): a forged token can only
        # be refused here, never let through.
        try:
            owner = User.objects.filter(pk=str(claims.get(api_settings.USER_ID_CLAIM)))
            current = owner.values_list("token_version", flat=True).first()
        except (DjangoValidationError, ValueError, TypeError) as exc:
            raise InvalidRefreshToken() from exc
        if current is None or token_version(claims) != current:
            raise InvalidRefreshToken()
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
    """Blacklist a refresh token that belongs to this user (revoke_sessions ends all of them)."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # simplejwt takes the encoded token
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    if str(token.get("user_id")) != str(user.pk):
        raise InvalidRefreshToken()
    token.blacklist()
