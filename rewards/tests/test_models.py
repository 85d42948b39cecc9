"""The database refuses bad reward definitions (and the deltas of any catalog entry) and user rewards
even when services are bypassed."""

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from inventory.tests.factories import ToolFactory
from rewards.models import RewardDefinition, UserReward
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db


def test_reward_when_threshold_zero_then_refused(db):
    with pytest.raises(IntegrityError, match="rewards_rewarddefinition_threshold_min"), transaction.atomic():
        RewardFactory(slug="free_lunch", threshold=0)

    RewardFactory(slug="first_step", threshold=1)
    assert list(RewardDefinition.objects.values_list("slug", flat=True)) == ["first_step"]


# Tools and rewards bound their deltas alike; +100 loyalty on a tool at x1.5 needs a price of 150.
CATALOG_ENTRIES = pytest.mark.parametrize(
    ("factory", "table", "at_most"),
    [
        (ToolFactory, "inventory_tooldefinition", {"price": 150}),
        (RewardFactory, "rewards_rewarddefinition", {}),
    ],
    ids=["tool", "reward"],
)


@CATALOG_ENTRIES
@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
@pytest.mark.parametrize("value", [101, -101])
def test_catalog_entry_when_delta_outside_range_then_refused(factory, table, at_most, field, value):
    with pytest.raises(IntegrityError, match=f"{table}_{field}_range"), transaction.atomic():
        factory(slug="jackpot", **at_most, **{field: value})

    assert not factory._meta.model.objects.filter(slug="jackpot").exists()


@CATALOG_ENTRIES
@pytest.mark.parametrize("field", ["energy_delta", "fatigue_delta", "loyalty_delta"])
def test_catalog_entry_when_delta_at_bounds_then_accepted(factory, table, at_most, field):
    factory(slug="high", **at_most, **{field: 100})
    factory(slug="low", **{field: -100})

    assert factory._meta.model.objects.filter(slug__in=["high", "low"]).count() == 2


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
