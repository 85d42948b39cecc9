"""Auth endpoints: register, token (login), refresh with rotation, logout."""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.api import serializers as s
from engagement.errors import EmailTaken, InvalidCredentials, InvalidRefreshToken
from engagement.schema import THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.throttling import AnonRateThrottle, LoginRateThrottle, RegisterRateThrottle


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
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
        data = s.RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.register_user(**data.validated_data)
        body = {"user": s.UserOutputSerializer(user).data, **services.issue_tokens(user)}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginRateThrottle, AnonRateThrottle]

    @extend_schema(
        tags=["auth"],
        request=s.LoginInputSerializer,
        responses={
            200: s.TokenPairOutputSerializer,
            **VALIDATION,
            401: error_response("Wrong email or password.", InvalidCredentials),
            **THROTTLED,
        },
        auth=[],
    )
    def post(self, request):
        data = s.LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = authenticate(request, **data.validated_data)
        if user is None:
            raise InvalidCredentials()
        return Response(services.issue_tokens(user))


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
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
        data = s.RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(services.rotate_refresh(refresh=data.validated_data["refresh"]))


class LogoutView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        request=s.RefreshInputSerializer,
        responses={
            204: OpenApiResponse(description="The refresh token is revoked."),
            **VALIDATION,
            **UNAUTHORIZED,
            **THROTTLED,
        },
    )
    def post(self, request):
        data = s.RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.logout(user=request.user, refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)
