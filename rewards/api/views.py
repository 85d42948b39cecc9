"""rewards/ and rewards/{slug}/claim/."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.errors import AlreadyClaimed, InventoryFull, RewardLocked, RewardNotFound
from engagement.schema import THROTTLED, UNAUTHORIZED, error_response
from engagement.serializers import require_empty_body
from rewards import selectors, services
from rewards.api import serializers as s


class RewardListView(APIView):
    @extend_schema(
        tags=["rewards"],
        responses={200: s.RewardStatusSerializer(many=True), **UNAUTHORIZED, **THROTTLED},
        description="Every active reward with the caller's status and progress.",
    )
    def get(self, request):
        return Response(s.RewardStatusSerializer(selectors.rewards_for(request.user), many=True).data)


class RewardClaimView(APIView):
    @extend_schema(
        tags=["rewards"],
        request=None,
        responses={
            200: s.ClaimResultSerializer,
            **UNAUTHORIZED,
            404: error_response("Unknown or inactive reward.", RewardNotFound),
            409: error_response("The reward cannot be claimed.", RewardLocked, AlreadyClaimed, InventoryFull),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        require_empty_body(request)
        result = services.claim_reward(user=request.user, slug=slug)
        return Response(s.ClaimResultSerializer(result).data)
