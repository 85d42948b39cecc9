"""seed_catalog: upserts the seeded tools and rewards; running it twice changes nothing."""

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


def snapshot() -> tuple[list[dict], list[dict]]:
    return (
        list(ToolDefinition.objects.order_by("slug").values()),
        list(RewardDefinition.objects.order_by("slug").values()),
    )


def test_seed_catalog_when_empty_then_creates_the_spec_catalog():
    out = seed()
    assert "tools: 4 created, 0 updated, 0 unchanged" in out
    assert "rewards: 3 created, 0 updated, 0 unchanged" in out
    tools = {
        t.slug: (t.price, t.energy_delta, t.fatigue_delta, t.loyalty_delta)
        for t in ToolDefinition.objects.all()
    }
    assert tools == {
        "coffee": (10, 15, 2, 0),
        "rest": (16, 0, -15, 0),
        "focus": (20, 5, 0, 5),
        "freeze": (25, 0, 0, 0),
    }
    checkins_10 = RewardDefinition.objects.get(slug="checkins_10")
    assert (checkins_10.condition, checkins_10.threshold, checkins_10.grant_tool_id) == (
        "total_checkins",
        10,
        "rest",
    )
    assert RewardDefinition.objects.get(slug="streak_7").auto_claim is True


def test_seed_catalog_when_run_twice_then_same_rows_untouched():
    seed()
    first = snapshot()
    out = seed()
    assert snapshot() == first  # updated_at included: nothing was rewritten
    assert f"tools: 0 created, 0 updated, {len(SEEDED_TOOLS)} unchanged" in out
    assert f"rewards: 0 created, 0 updated, {len(SEEDED_REWARDS)} unchanged" in out
    assert not StateEvent.objects.exists()


def test_seed_catalog_when_seeded_value_edited_then_restored_but_operator_switches_kept():
    seed()
    ToolDefinition.objects.filter(slug="coffee").update(price=99, is_active=False)
    ToolDefinition.objects.create(slug="tea", name="Tea", price=3)
    out = seed()
    coffee = ToolDefinition.objects.get(slug="coffee")
    assert (coffee.price, coffee.is_active) == (10, False)
    assert ToolDefinition.objects.filter(slug="tea").exists()
    assert "tools: 0 created, 1 updated, 3 unchanged" in out
