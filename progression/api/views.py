"""me/, me/bootstrap/, me/events/, checkins/."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from accounts import services as account_services
from accounts.api.serializers import ProfileUpdateInputSerializer
from engagement import errors
from engagement.pagination import NewestFirstCursorPagination
from engagement.schema import CURSOR_LIST, THROTTLED, UNAUTHORIZED, VALIDATION, error_response
from engagement.serializers import require_empty_body, validated_body
from progression import selectors, services
from progression.api import serializers as s


class MeView(APIView):
    @extend_schema(tags=["me"], responses={200: s.MeSerializer, **UNAUTHORIZED, **THROTTLED})
    def get(self, request):
        state = selectors.state_at_authentication(request.user)
        return Response(s.me_data(request.user, state))

    @extend_schema(
        tags=["me"],
        request=ProfileUpdateInputSerializer,
        responses={
            200: s.MeSerializer,
            **VALIDATION,
            **UNAUTHORIZED,
            409: error_response(
                "The time zone or day start changed less than a week ago; `retry_at` says when "
                "it may change again.",
                errors.SettingsChangeTooSoon,
            ),
            **THROTTLED,
        },
    )
    def patch(self, request):
        values = dict(validated_body(ProfileUpdateInputSerializer, request))
        timezone_name, day_start_hour = values.pop("timezone", None), values.pop("day_start_hour", None)
        visible = values.pop("leaderboard_visible", None)
        if timezone_name is not None or day_start_hour is not None:
            # First: it is the part that can be refused, and then nothing has changed.
            services.change_day_settings(
                user=request.user, timezone_name=timezone_name, day_start_hour=day_start_hour
            )
        user = account_services.update_profile(user=request.user, **values)
        if visible is not None and visible != user.leaderboard_visible:
            # A crossing written out here: the leaderboards copy the flag onto the user's scores.
            from leaderboards.services import set_leaderboard_visible

            user = set_leaderboard_visible(user=user, visible=visible)
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
            409: error_response("Already checked in today (your local day).", errors.AlreadyCheckedIn),
            **THROTTLED,
        },
        description="Check in for today (your local day: time zone and day start). Missed days are "
        "covered by the streak freezes held (all or none); paused days are not missed.",
    )
    def create(self, request):
        require_empty_body(request)
        result = services.check_in(user=request.user)
        return Response(s.check_in_result_data(result), status=status.HTTP_201_CREATED)


class PauseView(APIView):
    @extend_schema(
        tags=["me"],
        request=s.PauseInputSerializer,
        responses={
            201: s.PauseResultSerializer,
            **VALIDATION,
            **UNAUTHORIZED,
            409: error_response(
                "A pause is scheduled or running, or the previous one started too recently.",
                errors.PauseActive,
                errors.PauseTooSoon,
            ),
            **THROTTLED,
        },
        description="Pause the streak for 1..14 local days from today (tomorrow when already checked in).",
    )
    def post(self, request):
        days = validated_body(s.PauseInputSerializer, request)["days"]
        pause = services.schedule_pause(user=request.user, days=days)
        state = selectors.get_state(request.user)
        body = {"pause": s.PauseSerializer(pause).data, "state": s.state_data(state)}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["me"],
        request=None,
        responses={
            204: None,
            **UNAUTHORIZED,
            404: error_response("No pause is scheduled or running.", errors.NoPause),
            **THROTTLED,
        },
        description="End the pause: it then ends yesterday, or is deleted if it had not started.",
    )
    def delete(self, request):
        services.end_pause(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class StreakRepairView(APIView):
    @extend_schema(
        tags=["me"],
        request=None,
        responses={
            200: s.RepairResultSerializer,
            **UNAUTHORIZED,
            409: error_response(
                "No streak reset in the repair window (or already repaired), or not enough loyalty.",
                errors.NothingToRepair,
                errors.InsufficientLoyalty,
            ),
            **THROTTLED,
        },
        description="Within 3 local days after a check-in that reset a streak, buy it back for 50 "
        "loyalty: streak = the lost streak + the current one.",
    )
    def post(self, request):
        require_empty_body(request)
        change = services.repair_streak(user=request.user)
        return Response({"state": s.state_data(change.after), "changes": change.changes})
