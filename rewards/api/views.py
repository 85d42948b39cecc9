"""rewards/ and rewards/{slug}/claim/."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from engagement.schema import THROTTLED, UNAUTHORIZED, error_response
from engagement.serializers import require_empty_body
from progression.api.views import render_change
from progression.rules import condition_value
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
            404: error_response("Unknown or inactive reward.", "reward_not_found"),
            409: error_response(
                "The reward cannot be claimed.", "reward_locked", "already_claimed", "inventory_full"
            ),
            **THROTTLED,
        },
    )
    def post(self, request, slug):
        require_empty_body(request)
        result = services.claim_reward(user=request.user, slug=slug)
        reward = result.reward
        status_row = selectors.RewardStatus(
            reward=reward,
            status="claimed",
            progress=min(condition_value(result.change.after, reward.condition), reward.threshold),
            unlocked_at=result.user_reward.unlocked_at,
            claimed_at=result.user_reward.claimed_at,
        )
        body = render_change(result.change, reward=s.RewardStatusSerializer(status_row).data)
        return Response(body)
