"""Reward reads: every active reward with the user's status and progress."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from progression import rules
from progression.selectors import get_state
from progression.services import get_rules
from rewards.models import RewardDefinition, UserReward


@dataclass(frozen=True)
class RewardStatus:
    reward: RewardDefinition
    status: str  # locked | unlocked | claimed
    progress: int  # the state value the condition compares, capped at the threshold
    unlocked_at: datetime | None = None
    claimed_at: datetime | None = None


def reward_status(
    reward: RewardDefinition, user_reward: UserReward | None, values: rules.State
) -> RewardStatus:
    """The user's status of one reward, given their UserReward row (None: locked) and state."""
    return RewardStatus(
        reward=reward,
        status=user_reward.status if user_reward else "locked",
        progress=min(rules.condition_value(values, reward.condition), reward.threshold),
        unlocked_at=user_reward.unlocked_at if user_reward else None,
        claimed_at=user_reward.claimed_at if user_reward else None,
    )


def rewards_for(user) -> list[RewardStatus]:
    state = get_state(user)
    values = state.to_values() if state else rules.initial_state(get_rules())
    mine = {ur.reward_id: ur for ur in UserReward.objects.filter(user_id=user.pk)}
    rewards = RewardDefinition.objects.filter(is_active=True).select_related("grant_tool")
    return [reward_status(reward, mine.get(reward.slug), values) for reward in rewards]
