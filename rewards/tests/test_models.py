"""The database refuses bad reward definitions and user rewards even when services are bypassed."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.models import RewardDefinition, UserReward
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


def test_reward_when_threshold_zero_then_refused(db):
    with pytest.raises(IntegrityError, match="rewards_rewarddefinition_threshold_min"), transaction.atomic():
        RewardFactory(slug="free_lunch", threshold=0)

    RewardFactory(slug="first_step", threshold=1)
    assert list(RewardDefinition.objects.values_list("slug", flat=True)) == ["first_step"]


@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
@pytest.mark.parametrize("value", [101, -101])
def test_reward_when_delta_outside_range_then_refused(db, field, value):
    with pytest.raises(IntegrityError, match=f"rewards_rewarddefinition_{field}_range"), transaction.atomic():
        RewardFactory(slug="jackpot", **{field: value})

    assert not RewardDefinition.objects.filter(slug="jackpot").exists()


@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
def test_reward_when_delta_at_bounds_then_accepted(db, field):
    RewardFactory(slug="high", **{field: 100})
    RewardFactory(slug="low", **{field: -100})

    assert RewardDefinition.objects.filter(slug__in=["high", "low"]).count() == 2


def test_user_reward_when_claimed_before_unlocked_then_refused(user):
    reward = RewardFactory()
    now = timezone.now()

    with (
        pytest.raises(IntegrityError, match="rewards_userreward_claimed_after_unlocked"),
        transaction.atomic(),
    ):
        UserReward.objects.create(
            user=user, reward=reward, unlocked_at=now, claimed_at=now - timedelta(seconds=1)
        )

    UserReward.objects.create(user=user, reward=reward, unlocked_at=now, claimed_at=now)
    assert UserReward.objects.filter(user=user).count() == 1


def test_user_reward_when_second_row_for_same_reward_then_refused(user):
    reward = RewardFactory()
    UserReward.objects.create(user=user, reward=reward, unlocked_at=timezone.now())

    # PostgreSQL names the constraint; SQLite names its columns.
    refused = r"rewards_userreward_once_per_user|rewards_userreward\.user_id, rewards_userreward\.reward_id"
    with pytest.raises(IntegrityError, match=refused), transaction.atomic():
        UserReward.objects.create(user=user, reward=reward, unlocked_at=timezone.now())
    assert UserReward.objects.filter(user=user).count() == 1
