"""Rewards through the HTTP API over simulated days: unlocking, claiming, auto-claim."""

from datetime import date, timedelta

import pytest

from engagement.testing import assert_ledger_clean, client_for, error_code
from inventory.tests.helpers import API, holdings, noon, state_of, stock
from progression.models import EventKind, StateEvent
from progression.rules import STATE_FIELDS
from rewards.models import RewardDefinition, UserReward
from rewards.tests.factories import RewardFactory

pytestmark = pytest.mark.django_db

DAY_1 = date(2031, 1, 6)
NO_CHANGE = dict.fromkeys(STATE_FIELDS, 0)


@pytest.fixture
def on_day(time_machine, user):
    """on_day(n) moves the clock to noon UTC of day n; returns the user's client, token minted then."""

    def travel(day: int):
        time_machine.move_to(noon(DAY_1 + timedelta(days=day - 1)), tick=False)
        return client_for(user)

    return travel


@pytest.fixture
def days(on_day, catalog):
    """days(1, 2, 3) checks the user in on each day; returns the last response."""

    def check_in(*numbers: int):
        response = None
        for number in numbers:
            response = on_day(number).post(f"{API}/checkins/")
            assert response.status_code == 201, response.content
        return response

    return check_in


def claim(client, slug):
    return client.post(f"{API}/rewards/{slug}/claim/")


def rewards_by_slug(client) -> dict[str, dict]:
    response = client.get(f"{API}/rewards/")
    assert response.status_code == 200
    return {row["slug"]: row for row in response.json()}


def claim_events(user, slug=None):
    events = StateEvent.objects.filter(user=user, kind=EventKind.REWARD_CLAIM)
    return events.filter(reference=slug) if slug else events


# --- streak_3: unlock, claim once -------------------------------------------------------------


def test_streak_3_when_third_consecutive_day_then_unlocked_unclaimed_with_progress(days, on_day, user):
    second = days(1, 2)
    assert second.json()["unlocked_rewards"] == []
    before = rewards_by_slug(on_day(2))["streak_3"]
    assert (before["status"], before["progress"], before["unlocked_at"]) == ("locked", 2, None)

    third = days(3)

    assert third.json()["unlocked_rewards"] == [
        {"slug": "streak_3", "title": "Three in a row", "claimed": False}
    ]
    state = third.json()["state"]
    assert (state["streak"], state["energy"], state["fatigue"], state["loyalty"], state["level"]) == (
        3,
        0,
        30,
        15,
        2,
    )
    assert third.json()["leveled_up"] is True
    listing = on_day(3).get(f"{API}/rewards/").json()
    assert [row["slug"] for row in listing] == ["checkins_10", "streak_3", "streak_7"]
    rows = {row["slug"]: row for row in listing}
    assert rows["streak_3"]["status"] == "unlocked"
    assert rows["streak_3"]["progress"] == 3
    assert rows["streak_3"]["unlocked_at"] is not None
    assert rows["streak_3"]["claimed_at"] is None
    assert (rows["streak_7"]["status"], rows["streak_7"]["progress"]) == ("locked", 3)
    assert (rows["checkins_10"]["status"], rows["checkins_10"]["progress"]) == ("locked", 3)
    assert UserReward.objects.get(user=user).reward_id == "streak_3"
    assert_ledger_clean()


def test_streak_3_when_streak_broken_then_still_claimable_once(days, on_day, user):
    days(1, 2, 3, 5)  # day 4 missed: streak back to 1
    client = on_day(5)
    row = rewards_by_slug(client)["streak_3"]
    assert (row["status"], row["progress"]) == ("unlocked", 1)

    response = claim(client, "streak_3")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["reward"]["slug"] == "streak_3"
    assert body["reward"]["status"] == "claimed"
    assert body["reward"]["claimed_at"] is not None
    assert body["state"]["loyalty"] == 30  # 20 from four check-ins, +10
    assert body["changes"] == {**NO_CHANGE, "loyalty": 10}
    assert body["unlocked_rewards"] == []
    assert body["leveled_up"] is False
    event = claim_events(user).get()
    assert (event.reference, event.loyalty_delta, event.loyalty) == ("streak_3", 10, 30)
    assert rewards_by_slug(client)["streak_3"]["status"] == "claimed"

    again = claim(client, "streak_3")

    assert (again.status_code, error_code(again)) == (409, "already_claimed")
    assert state_of(user).loyalty == 30
    assert claim_events(user).count() == 1
    assert_ledger_clean()


def test_claim_when_reward_not_unlocked_then_409_reward_locked(days, on_day, user):
    days(1)

    response = claim(on_day(1), "streak_3")

    assert (response.status_code, error_code(response)) == (409, "reward_locked")
    assert not UserReward.objects.filter(user=user).exists()
    assert claim_events(user).count() == 0
    assert_ledger_clean()


def test_claim_when_slug_unknown_then_404_reward_not_found(auth_client, catalog):
    response = claim(auth_client, "streak_99")

    assert (response.status_code, error_code(response)) == (404, "reward_not_found")


def test_rewards_when_no_token_then_401(api_client, catalog):
    assert api_client.get(f"{API}/rewards/").status_code == 401
    assert claim(api_client, "streak_3").status_code == 401


# --- streak_7: auto-claim ---------------------------------------------------------------------


def test_streak_7_when_seventh_day_then_auto_claimed_in_that_check_in(days, on_day, user):
    response = days(1, 2, 3, 4, 5, 6, 7)

    body = response.json()
    assert body["unlocked_rewards"] == [{"slug": "streak_7", "title": "A whole week", "claimed": True}]
    assert body["state"]["loyalty"] == 60  # 7 check-ins: 3 x 5 at level 1, 4 x 5 at level 2; then +25
    assert body["changes"]["loyalty"] == 30
    assert (body["state"]["energy"], body["state"]["fatigue"], body["state"]["streak"]) == (44, 70, 7)
    last_two = list(StateEvent.objects.filter(user=user).order_by("-id")[:2])[::-1]
    assert [(e.kind, e.loyalty_delta) for e in last_two] == [
        (EventKind.CHECK_IN, 5),
        (EventKind.REWARD_CLAIM, 25),
    ]
    assert last_two[1].reference == "streak_7"
    assert UserReward.objects.get(user=user, reward_id="streak_7").claimed_at is not None
    assert rewards_by_slug(on_day(7))["streak_7"]["status"] == "claimed"
    again = claim(on_day(7), "streak_7")
    assert (again.status_code, error_code(again)) == (409, "already_claimed")
    assert_ledger_clean()


# --- checkins_10: a tool as the reward --------------------------------------------------------


def test_checkins_10_when_claimed_then_rest_kit_in_inventory(days, on_day, user):
    tenth = days(*range(1, 11))
    assert {"slug": "checkins_10", "title": "Ten check-ins", "claimed": False} in tenth.json()[
        "unlocked_rewards"
    ]
    client = on_day(10)

    response = claim(client, "checkins_10")

    assert response.status_code == 200, response.content
    assert response.json()["state"]["inventory_count"] == 1
    assert response.json()["changes"] == {**NO_CHANGE, "inventory_count": 1}
    assert holdings(user) == {"rest": 1}
    inventory = client.get(f"{API}/inventory/").json()
    assert [(item["tool"]["slug"], item["quantity"]) for item in inventory["items"]] == [("rest", 1)]
    assert claim_events(user, "checkins_10").get().inventory_count_delta == 1
    assert_ledger_clean()


def test_checkins_10_when_inventory_full_then_409_and_nothing_changes(days, on_day, user):
    days(*range(1, 11))
    client = on_day(10)
    assert client.post(f"{API}/tools/coffee/buy/", {"quantity": 5}).status_code == 201
    state_before = state_of(user).to_values()
    events_before = StateEvent.objects.filter(user=user).count()

    response = claim(client, "checkins_10")

    assert (response.status_code, error_code(response)) == (409, "inventory_full")
    assert state_of(user).to_values() == state_before
    assert holdings(user) == {"coffee": 5}
    assert StateEvent.objects.filter(user=user).count() == events_before
    assert UserReward.objects.get(user=user, reward_id="checkins_10").claimed_at is None
    assert rewards_by_slug(client)["checkins_10"]["status"] == "unlocked"

    assert client.post(f"{API}/inventory/coffee/use/").status_code == 200
    assert claim(client, "checkins_10").status_code == 200
    assert holdings(user) == {"coffee": 4, "rest": 1}
    assert_ledger_clean()


# --- definitions changing under the user ---------------------------------------------------------


def test_reward_when_made_inactive_then_hidden_and_claim_404(days, on_day, user):
    days(1, 2, 3)
    RewardDefinition.objects.filter(slug="streak_3").update(is_active=False)
    client = on_day(3)

    listing = rewards_by_slug(client)
    response = claim(client, "streak_3")

    assert sorted(listing) == ["checkins_10", "streak_7"]
    assert (response.status_code, error_code(response)) == (404, "reward_not_found")
    assert state_of(user).loyalty == 15
    assert claim_events(user).count() == 0
    assert_ledger_clean()


def test_reward_when_defined_after_condition_holds_then_unlocks_at_next_state_change(days, on_day, user):
    days(1, 2)
    stock(user, coffee=1)
    RewardFactory(slug="late_bloomer", title="Late bloomer", condition="total_checkins", threshold=2)
    client = on_day(2)
    assert not UserReward.objects.filter(user=user, reward_id="late_bloomer").exists()

    response = client.post(f"{API}/inventory/coffee/use/")

    assert response.status_code == 200
    assert response.json()["unlocked_rewards"] == [
        {"slug": "late_bloomer", "title": "Late bloomer", "claimed": False}
    ]
    assert rewards_by_slug(client)["late_bloomer"]["status"] == "unlocked"
    assert_ledger_clean()


# --- at most once, ever ---------------------------------------------------------------------------


def test_reward_when_threshold_reached_again_then_one_row_and_one_payout(days, on_day, user):
    RewardFactory(slug="pair", condition="streak", threshold=2, loyalty_delta=1, auto_claim=True)
    days(1, 2, 3)  # pair auto-claimed on day 2, streak_3 unlocked on day 3
    unlocked_at = UserReward.objects.get(user=user, reward_id="streak_3").unlocked_at

    again = days(5, 6, 7)  # broken on day 4, streak 3 again on day 7

    assert again.json()["unlocked_rewards"] == []
    assert UserReward.objects.get(user=user, reward_id="streak_3").unlocked_at == unlocked_at
    assert claim(on_day(7), "streak_3").status_code == 200

    days(9, 10, 11)  # and once more after the claim

    assert UserReward.objects.filter(user=user, reward_id__in=["pair", "streak_3"]).count() == 2
    assert claim_events(user, "pair").count() == 1
    assert claim_events(user, "streak_3").count() == 1
    assert (claim(on_day(11), "streak_3").status_code, claim(on_day(11), "pair").status_code) == (409, 409)
    assert_ledger_clean()


# --- auto-claim chains -----------------------------------------------------------------------------


def test_auto_claim_when_payout_levels_up_then_level_reward_claimed_in_same_request(on_day, user):
    RewardFactory(slug="chain_a_boost", title="Boost", threshold=1, energy_delta=100, auto_claim=True)
    RewardFactory(
        slug="chain_b_level",
        title="Level two",
        condition="level",
        threshold=2,
        loyalty_delta=7,
        auto_claim=True,
    )
    RewardFactory(slug="chain_c_plain", title="Plain", threshold=1, loyalty_delta=1, auto_claim=True)

    response = on_day(1).post(f"{API}/checkins/")

    assert response.status_code == 201, response.content
    body = response.json()
    assert sorted((r["slug"], r["claimed"]) for r in body["unlocked_rewards"]) == [
        ("chain_a_boost", True),
        ("chain_b_level", True),
        ("chain_c_plain", True),
    ]
    assert body["leveled_up"] is True
    state = body["state"]
    assert (state["level"], state["energy"], state["loyalty"]) == (2, 0, 13)  # 5 + 7 + 1
    # Slug order, and unlocking re-runs after each claim: b (unlocked by a's level-up) before c.
    events = list(
        StateEvent.objects.filter(user=user).order_by("id").values_list("kind", "reference", "level")
    )
    assert [(kind, ref, level) for kind, ref, level in events[1:]] == [
        (EventKind.REWARD_CLAIM, "chain_a_boost", 2),
        (EventKind.REWARD_CLAIM, "chain_b_level", 2),
        (EventKind.REWARD_CLAIM, "chain_c_plain", 2),
    ]
    assert events[0][0] == EventKind.CHECK_IN
    assert UserReward.objects.filter(user=user, claimed_at__isnull=False).count() == 3
    assert_ledger_clean()


def test_claim_when_payout_levels_up_then_level_reward_unlocks_in_claim_response(on_day, user):
    RewardFactory(slug="manual_boost", threshold=1, energy_delta=100)
    RewardFactory(slug="level_two", title="Level two", condition="level", threshold=2)
    assert on_day(1).post(f"{API}/checkins/").status_code == 201

    response = claim(on_day(1), "manual_boost")

    assert response.status_code == 200, response.content
    assert response.json()["leveled_up"] is True
    assert response.json()["unlocked_rewards"] == [
        {"slug": "level_two", "title": "Level two", "claimed": False}
    ]
    assert_ledger_clean()


def test_auto_claim_when_granted_tool_does_not_fit_then_left_unlocked_for_later(on_day, user, catalog):
    RewardFactory(
        slug="coffee_gift", title="Coffee gift", threshold=2, grant_tool_id="coffee", auto_claim=True
    )
    assert on_day(1).post(f"{API}/checkins/").status_code == 201
    stock(user, rest=5)

    response = on_day(2).post(f"{API}/checkins/")

    assert response.status_code == 201, response.content
    assert response.json()["unlocked_rewards"] == [
        {"slug": "coffee_gift", "title": "Coffee gift", "claimed": False}
    ]
    assert claim_events(user).count() == 0
    assert holdings(user) == {"rest": 5}
    client = on_day(2)
    assert client.post(f"{API}/inventory/rest/use/").status_code == 200
    claimed = claim(client, "coffee_gift")
    assert claimed.status_code == 200, claimed.content
    assert holdings(user) == {"coffee": 1, "rest": 4}
    assert_ledger_clean()


def test_claim_when_clock_behind_unlock_time_then_claimed_at_unlock_time(days, on_day, time_machine, user):
    """Another host's clock may trail the one that unlocked the reward: the claim must still work."""
    days(1, 2, 3)
    time_machine.move_to(noon(DAY_1 + timedelta(days=2)) - timedelta(seconds=2), tick=False)

    response = claim(client_for(user), "streak_3")

    assert response.status_code == 200, response.content
    row = UserReward.objects.get(user=user, reward_id="streak_3")
    assert row.claimed_at == row.unlocked_at
    assert claim_events(user, "streak_3").count() == 1
    assert_ledger_clean()
