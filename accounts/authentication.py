"""Bearer JWT authentication (HS256 pinned in settings); refuses revoked tokens and inactive users."""

import functools

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import aware_utcnow

from accounts.tokens import token_version
from engagement.db import fetch_by, fetch_with
from progression.models import UserState
from progression.selectors import remember_state

# Tokens whose signature and claims were checked, per process: a client sends the same access
# token on every request until it expires, and checking it (base64, HMAC, JSON) cost about a
# tenth of a GET me/'s CPU. The key is the whole token (any other byte is a new check) with the
# signing key and algorithm; expiry is checked again on every use; refusals are never kept.
_VERIFIED_TOKENS = 4096


@functools.lru_cache(maxsize=_VERIFIED_TOKENS)
def _verified_token(raw_token: bytes, signing_key: str, algorithm: str) -> Token:
    """The token as the first of AUTH_TOKEN_CLASSES that accepts it; TokenError if none does."""
    refusal: TokenError | None = None
    for token_class in api_settings.AUTH_TOKEN_CLASSES:
        try:
            return token_class(raw_token)
        except TokenError as exc:
            refusal = exc
    raise refusal or TokenError("no token class")


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's authentication: one user lookup by primary key per request, pre-built SQL.

    The same statement reads the user's progression state (a LEFT JOIN on its one-to-one key),
    which GET me/ renders without a second round trip (progression.selectors.state_at_authentication).

    A token's signature is checked once per process (see _verified_token); its expiry, the
    user (active, same token version) are checked on every request.
    """

    www_authenticate_realm = "api"

    def get_validated_token(self, raw_token):
        try:
            token = _verified_token(bytes(raw_token), str(api_settings.SIGNING_KEY), api_settings.ALGORITHM)
            token.check_exp(current_time=aware_utcnow())
        except TokenError:
            return super().get_validated_token(raw_token)  # refused the same way, with its messages
        return token

    def authenticate(self, request):
        """Authenticate once per request: the Idempotency-Key middleware may already have."""
        django_request = getattr(request, "_request", request)
        if hasattr(django_request, "_jwt_authenticated"):
            return django_request._jwt_authenticated
        result = super().authenticate(request)
        django_request._jwt_authenticated = result
        return result

    def get_user(self, validated_token):
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken(str(_("Token contained no recognizable user identification"))) from exc
        try:
            found = fetch_with(
                self.user_model, api_settings.USER_ID_FIELD, user_id, joined=UserState, joined_field="user"
            )
        except (ValidationError, ValueError, TypeError) as exc:
            raise AuthenticationFailed(str(_("User not found")), code="user_not_found") from exc
        if found is None:
            raise AuthenticationFailed(str(_("User not found")), code="user_not_found")
        user, state = found
        if not user.is_active:
            raise AuthenticationFailed(str(_("User is inactive")), code="user_inactive")
        if token_version(validated_token) != user.token_version:
            # Issued before the user's sessions were revoked (password change, logout everywhere).
            raise InvalidToken(str(_("Token has been revoked")))
        remember_state(user, state)
        return user


class DevHeaderAuthentication(authentication.JWTAuthentication):
    """Local development only: `X-User-Id: <user id>` logs in as that (active) user, no token.

    Installed only when DJANGO_DEBUG=true and DEV_AUTH_HEADER=true (settings.py); the system
    check engagement.E001 refuses to run with DEV_AUTH_HEADER=true outside DEBUG. For trying
    the API from curl or a local front end without minting tokens; never in a deployment.
    """

    header = "HTTP_X_USER_ID"

    def authenticate(self, request):
        user_id = request.META.get(self.header)
        if not user_id:
            return None
        try:
            user = fetch_by(self.user_model, api_settings.USER_ID_FIELD, user_id.strip())
        except (ValidationError, ValueError, TypeError) as exc:
            raise AuthenticationFailed(str(_("User not found")), code="user_not_found") from exc
        if user is None or not user.is_active:
            raise AuthenticationFailed(str(_("User not found")), code="user_not_found")
        return user, None
