"""OpenAPI description of the project's Bearer JWT authentication."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class BearerJWTScheme(SimpleJWTScheme):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"
