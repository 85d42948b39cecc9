"""Bearer JWT authentication (HS256 pinned in settings); refuses tokens of inactive users."""

from rest_framework_simplejwt import authentication


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's authentication with one user lookup by primary key per request."""

    www_authenticate_realm = "api"
