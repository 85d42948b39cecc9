"""seed_catalog upserts the seeded tools and rewards (both apps' seeds); running it twice changes nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from inventory.catalog import SEEDED_TOOLS
from inventory.models import ToolDefinition
from progression.models import StateEvent
from rewards.catalog import SEEDED_REWARDS
from rewards.models import RewardDefinition

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = StringIO()
    call_command("seed_catalog", stdout=out)
    return out.getvalue()


def snapshot() -> tuple[list, list]:
    return (
        list(ToolDefinition.objects.order_by("slug").values()),
        list(RewardDefinition.objects.order_by("slug").values()),
    )


def test_catalog_fixture_when_seeded_again_then_nothing_changes(catalog):
    """The shared `catalog` fixture writes exactly the rows seed_catalog writes."""
    output = seed()

    assert "tools: 0 created, 0 updated, 4 unchanged" in output
    assert "rewards: 0 created, 0 updated, 3 unchanged" in output
    assert "leaderboards: 0 created, 0 updated, 3 unchanged" in output


def test_seed_catalog_when_empty_then_creates_the_spec_rows(db):
    output = seed()

    assert "tools: 4 created, 0 updated, 0 unchanged" in output
    assert "rewards: 3 created, 0 updated, 0 unchanged" in output
    tools = {row["slug"]: row for row in ToolDefinition.objects.values()}
    assert {
        slug: (t["price"], t["energy_delta"], t["fatigue_delta"], t["loyalty_delta"])
        for slug, t in tools.items()
    } == {
        "coffee": (10, 15, 2, 0),
        "rest": (16, 0, -15, 0),
        "focus": (20, 5, 0, 5),
        "freeze": (25, 0, 0, 0),
    }
    freeze = ToolDefinition.objects.get(slug="freeze")
    assert (freeze.name, freeze.kind, freeze.max_held) == ("Streak Freeze", "streak_freeze", 2)
    assert set(ToolDefinition.objects.exclude(slug="freeze").values_list("kind", "max_held")) == {
        ("boost", None)
    }
    rewards = {row["slug"]: row for row in RewardDefinition.objects.values()}
    assert {
        slug: (r["condition"], r["threshold"], r["loyalty_delta"], r["grant_tool_id"], r["auto_claim"])
        for slug, r in rewards.items()
    } == {
        "streak_3": ("streak", 3, 10, None, False),
        "streak_7": ("streak", 7, 25, None, True),
        "checkins_10": ("total_checkins", 10, 0, "rest", False),
    }
    assert (len(SEEDED_TOOLS), len(SEEDED_REWARDS)) == (4, 3)


def test_seed_catalog_when_run_twice_then_same_rows_and_second_run_unchanged(db):
    seed()
    first = snapshot()

    output = seed()

    assert f"tools: 0 created, 0 updated, {len(SEEDED_TOOLS)} unchanged" in output
    assert f"rewards: 0 created, 0 updated, {len(SEEDED_REWARDS)} unchanged" in output
    assert snapshot() == first  # not even updated_at moved
    assert not StateEvent.objects.exists()


def test_seed_catalog_when_seeded_row_edited_then_restored_and_admin_flags_and_other_tools_kept(db):
    seed()
    ToolDefinition.objects.filter(slug="coffee").update(price=99, is_active=False)
    ToolDefinition.objects.create(slug="tea", name="Tea", price=3)

    output = seed()

    assert "tools: 0 created, 1 updated, 3 unchanged" in output
    coffee = ToolDefinition.objects.get(slug="coffee")
    assert (coffee.price, coffee.is_active) == (10, False)
    assert ToolDefinition.objects.filter(slug="tea").exists()
