"""Auth endpoints: register, token (login), refresh with rotation, logout, password change."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers as s
from engagement import errors as codes
from engagement.errors import (
    EmailTaken,
    InvalidCredentials,
    InvalidCurrentPassword,
    InvalidRefreshToken,
    ValidationFailed,
)
from engagement.schema import THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.serializers import validated_body
from engagement.throttling import AnonRateThrottle, LoginRateThrottle, RegisterRateThrottle


# An endpoint called without a session (register, log in, refresh): no authentication. No
# docstring: the schema would take it as the description of every operation of its subclasses.
class AnonymousView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]


class RegisterView(AnonymousView):
    throttle_classes = [RegisterRateThrottle, AnonRateThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.RegisterInputSerializer,
        responses={
            201: s.RegisterOutputSerializer,
            **VALIDATION,
            409: error_response("Email already registered.", EmailTaken),
            **THROTTLED,
        },
        auth=[],
    )
    def post(self, request):
        user = services.register_user(**validated_body(s.RegisterInputSerializer, request))
        body = {"user": s.user_data(user), **services.issue_tokens(user)}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenView(AnonymousView):
    throttle_classes = [LoginRateThrottle, AnonRateThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.LoginInputSerializer,
        responses={
            200: s.TokenPairOutputSerializer,
            **VALIDATION,
            401: error_response("Wrong email or password.", InvalidCredentials),
            429: error_response(
                "Too many attempts from this address, or too many failures for this account "
                "(10 per 15 minutes, from any address); see Retry-After.",
                codes.THROTTLED,
            ),
        },
        auth=[],
    )
    def post(self, request):
        data = validated_body(s.LoginInputSerializer, request)
        return Response(services.log_in(request=request, **data))


class RefreshView(AnonymousView):
    throttle_classes = [AnonRateThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.RefreshInputSerializer,
        responses={
            200: s.TokenPairOutputSerializer,
            **VALIDATION,
            401: error_response("Refresh token invalid, expired or revoked.", InvalidRefreshToken),
            **THROTTLED,
        },
        auth=[],
    )
    def post(self, request):
        data = validated_body(s.RefreshInputSerializer, request)
        return Response(services.rotate_refresh(refresh=data["refresh"]))


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        request=s.LogoutInputSerializer,
        responses={
            204: OpenApiResponse(
                description="The refresh token is revoked; with `all: true`, every session of the user "
                "is (every refresh token, and every access token issued so far, this one included)."
            ),
            **VALIDATION,
            401: error_response(
                "Missing, invalid or expired token, or a refresh token that is not yours.",
                codes.NOT_AUTHENTICATED,
                codes.TOKEN_NOT_VALID,
            ),
            **THROTTLED,
        },
    )
    def post(self, request):
        data = validated_body(s.LogoutInputSerializer, request)
        if data["all"]:
            services.revoke_sessions(user=request.user)
        else:
            services.logout(user=request.user, refresh=data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        request=s.PasswordChangeInputSerializer,
        responses={
            204: OpenApiResponse(
                description="The password is changed and every session of the user ended: every "
                "refresh token is revoked and every access token issued before now answers 401 "
                "`token_not_valid`. Log in again with the new password."
            ),
            400: error_response(
                "Invalid input, a new password the validators refuse (`fields.new_password`), or a "
                "wrong current password (counted as a failed login).",
                ValidationFailed,
                codes.PARSE_ERROR,
                InvalidCurrentPassword,
            ),
            **UNAUTHORIZED,
            429: error_response(
                "Too many requests, or too many failed password checks for this account; see Retry-After.",
                codes.THROTTLED,
            ),
        },
    )
    def post(self, request):
        data = validated_body(s.PasswordChangeInputSerializer, request)
        services.change_password(user=request.user, **data)
        return Response(status=status.HTTP_204_NO_CONTENT)
