"""Rewards in the admin: list with unlock counts, CRUD, constraint errors on the form, bulk on/off,
and users' rewards read-only."""

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory, bearer_client
from engagement.testing import assert_form_refused, assert_queries_do_not_grow
from rewards.models import RewardDefinition, UserReward

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:rewards_rewarddefinition_add")
LIST_URL = reverse("admin:rewards_rewarddefinition_changelist")


# What the add form posts for a new reward.
REWARD_FORM = {
    "slug": "level_3",
    "title": "Level three",
    "description": "Reach level 3.",
    "is_active": "on",
    "condition": "level",
    "threshold": "3",
    "energy_delta": "0",
    "fatigue_delta": "0",
    "loyalty_delta": "15",
    "grant_tool": "",
    "grant_quantity": "1",
}


def reward_form(**overrides) -> dict:
    return {**REWARD_FORM, **overrides}


def make_rewards(count: int, prefix: str, users: list) -> None:
    rewards = RewardDefinition.objects.bulk_create(
        [
            RewardDefinition(slug=f"{prefix}-{i}", title=f"R {i}", condition="streak", threshold=99)
            for i in range(count)
        ]
    )
    now = timezone.now()
    UserReward.objects.bulk_create(
        [
            UserReward(user=user, reward=reward, unlocked_at=now, claimed_at=now if n % 2 else None)
            for reward in rewards
            for n, user in enumerate(users)
        ]
    )


def test_reward_changelist_when_many_rewards_unlocked_then_queries_stay_bounded(admin_client, catalog):
    users = UserFactory.create_batch(3)
    make_rewards(2, "few", users)
    response = assert_queries_do_not_grow(
        lambda: admin_client.get(LIST_URL), lambda: make_rewards(40, "many", users), at_most=6
    )
    assert response.context["cl"].result_count == 45


def test_reward_changelist_when_unlocked_then_counts_unlocked_and_claimed(admin_client):
    make_rewards(1, "r", UserFactory.create_batch(3))
    response = admin_client.get(LIST_URL)
    reward = response.context["cl"].result_list[0]
    assert (reward.unlocked_count, reward.claimed_count) == (3, 1)
    assert '?reward=r-0">3</a>' in response.content.decode()


def test_reward_changelist_filters_when_used_then_narrow_the_list(admin_client, catalog):
    by_condition = admin_client.get(LIST_URL, {"condition__exact": "streak"}).context["cl"].result_list
    auto = admin_client.get(LIST_URL, {"auto_claim__exact": "1"}).context["cl"].result_list
    found = admin_client.get(LIST_URL, {"q": "ten check"}).context["cl"].result_list
    assert sorted(r.slug for r in by_condition) == ["streak_3", "streak_7"]
    assert [r.slug for r in auto] == ["streak_7"]
    assert [r.slug for r in found] == ["checkins_10"]


def test_reward_add_when_valid_then_row_written_and_users_see_it(admin_client, catalog, user):
    response = admin_client.post(ADD_URL, reward_form(grant_tool="coffee", grant_quantity="2"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    reward = RewardDefinition.objects.get(slug="level_3")
    assert (reward.condition, reward.threshold, reward.loyalty_delta) == ("level", 3, 15)
    assert (reward.grant_tool_id, reward.grant_quantity) == ("coffee", 2)
    listed = bearer_client(user).get("/api/v1/rewards/").json()
    assert "level_3" in [row["slug"] for row in listed]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("threshold", "0", "Must be at least 1."),
        ("energy_delta", "101", "Must be between -100 and 100."),
        ("loyalty_delta", "-101", "Must be between -100 and 100."),
        ("grant_quantity", "0", "Must be between 1 and 100."),
    ],
)
def test_reward_add_when_value_breaks_check_constraint_then_form_error_and_no_row(
    admin_client, field, value, message
):
    assert_form_refused(admin_client.post(ADD_URL, reward_form(**{field: value})), field, message)
    assert not RewardDefinition.objects.filter(slug="level_3").exists()


def test_deactivate_action_when_applied_then_reward_hidden_from_users(admin_client, catalog, user):
    def listed():
        return sorted(row["slug"] for row in bearer_client(user).get("/api/v1/rewards/").json())

    response = admin_client.post(LIST_URL, {"action": "deactivate", "_selected_action": ["streak_7"]})
    assert response.status_code == 302
    assert listed() == ["checkins_10", "streak_3"]
    admin_client.post(LIST_URL, {"action": "activate", "_selected_action": ["streak_7"]})
    assert listed() == ["checkins_10", "streak_3", "streak_7"]


def test_user_reward_admin_when_superuser_then_read_only(admin_client, catalog, user):
    row = UserReward.objects.create(user=user, reward_id="streak_3", unlocked_at=timezone.now())
    changelist = admin_client.get(reverse("admin:rewards_userreward_changelist"))
    assert changelist.status_code == 200
    assert not changelist.context["has_add_permission"]
    assert admin_client.get(reverse("admin:rewards_userreward_add")).status_code == 403
    change_url = reverse("admin:rewards_userreward_change", args=[row.pk])
    assert admin_client.get(change_url).context["has_change_permission"] is False
    posted = admin_client.post(change_url, {"claimed_at_0": "2030-01-01", "claimed_at_1": "00:00:00"})
    assert posted.status_code == 403
    deleted = admin_client.post(reverse("admin:rewards_userreward_delete", args=[row.pk]), {"post": "yes"})
    assert deleted.status_code == 403
    row.refresh_from_db()
    assert row.claimed_at is None


def test_user_reward_status_filter_when_claimed_then_lists_only_claimed(admin_client, catalog):
    unclaimed, claimed = UserFactory.create_batch(2)
    now = timezone.now()
    UserReward.objects.create(user=unclaimed, reward_id="streak_3", unlocked_at=now)
    UserReward.objects.create(user=claimed, reward_id="streak_3", unlocked_at=now, claimed_at=now)
    url = reverse("admin:rewards_userreward_changelist")
    rows = admin_client.get(url, {"status": "claimed"}).context["cl"].result_list
    assert [r.user_id for r in rows] == [claimed.pk]
