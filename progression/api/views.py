"""me/, me/bootstrap/, me/events/, checkins/."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from accounts import services as account_services
from accounts.api.serializers import ProfileUpdateInputSerializer
from engagement.errors import AlreadyCheckedIn
from engagement.pagination import NewestFirstCursorPagination
from engagement.schema import CURSOR_LIST, THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.serializers import require_empty_body
from progression import selectors, services
from progression.api import serializers as s


class MeView(APIView):
    @extend_schema(tags=["me"], responses={200: s.MeSerializer, **UNAUTHORIZED, **THROTTLED})
    def get(self, request):
        state = selectors.get_state(request.user)
        return Response(s.me_data(request.user, state))

    @extend_schema(
        tags=["me"],
        request=ProfileUpdateInputSerializer,
        responses={200: s.MeSerializer, **VALIDATION, **UNAUTHORIZED, **THROTTLED},
    )
    def patch(self, request):
        data = ProfileUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = account_services.update_profile(user=request.user, **data.validated_data)
        state = selectors.get_state(user)
        return Response(s.me_data(user, state))


class BootstrapView(APIView):
    @extend_schema(
        tags=["me"],
        request=None,
        responses={201: s.MeSerializer, 200: s.MeSerializer, **UNAUTHORIZED, **THROTTLED},
        description="Create the caller's state if it does not exist: 201 when created, 200 after.",
    )
    def post(self, request):
        require_empty_body(request)
        state, created = services.ensure_state(request.user)
        body = s.me_data(request.user, state)
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class EventListView(APIView):
    pagination_class = NewestFirstCursorPagination

    @extend_schema(
        tags=["me"],
        responses={200: s.EventSerializer(many=True), **CURSOR_LIST},
        description="The caller's ledger, newest first, cursor-paginated.",
    )
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.events_for(request.user), request, view=self)
        return paginator.get_paginated_response(s.EventSerializer(page, many=True).data)


class CheckInViewSet(GenericViewSet):
    pagination_class = NewestFirstCursorPagination
    serializer_class = s.CheckInSerializer

    def get_queryset(self):
        return selectors.checkins_for(self.request.user)

    @extend_schema(
        tags=["check-ins"],
        responses={200: s.CheckInSerializer(many=True), **CURSOR_LIST},
        description="The caller's check-ins, newest first, cursor-paginated.",
    )
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.CheckInSerializer(page, many=True).data)

    @extend_schema(
        tags=["check-ins"],
        request=None,
        responses={
            201: s.CheckInResultSerializer,
            **UNAUTHORIZED,
            409: error_response("Already checked in today (UTC).", AlreadyCheckedIn),
            **THROTTLED,
        },
        description="Check in for today (UTC day).",
    )
    def create(self, request):
        require_empty_body(request)
        result = services.check_in(user=request.user)
        return Response(s.check_in_result_data(result), status=status.HTTP_201_CREATED)
