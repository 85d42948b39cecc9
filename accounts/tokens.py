"""The JWTs the API issues: simplejwt's pair, stamped with the user's token version.

Revoking a user's sessions (accounts.services.revoke_sessions) raises User.token_version;
authentication and refresh then refuse every token stamped with an older value. A token
without the claim (issued before it existed) counts as version 0.

A version rather than a "valid after" time: a token's iat has whole-second resolution and
each host its own clock, so a timestamp cannot tell a token issued just before a password
change from one issued just after it; a counter is exact.
"""

from __future__ import annotations

from rest_framework_simplejwt.tokens import RefreshToken, Token

VERSION_CLAIM = "ver"


def token_version(token: Token | dict) -> int:
    """The version a token (or its claims) was issued under; -1 when the claim is malformed."""
    value = token.get(VERSION_CLAIM, 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def issue_pair(user) -> dict[str, str]:
    """A refresh token (recorded as outstanding, so it can be revoked) and its access token."""
    refresh = RefreshToken.for_user(user)
    refresh[VERSION_CLAIM] = user.token_version
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
