"""The admin's progression side: the "adjust state" action (through the service, ledgered) and
the read-only state, check-ins, events, user rewards and inventory items."""

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.tests.factories import UserFactory
from engagement.testing import assert_ledger_clean, assert_queries_do_not_grow
from inventory.models import InventoryItem
from progression.models import DailyCheckIn, EventKind, StateEvent, UserState
from progression.services import adjust_state, check_in
from rewards.models import UserReward

pytestmark = pytest.mark.django_db

USERS_URL = reverse("admin:accounts_user_changelist")


def adjust(client, users, **fields):
    data = {"action": "adjust_state", "_selected_action": [str(u.pk) for u in users]}
    data.update({name: str(value) for name, value in fields.items()})
    return client.post(USERS_URL, data)


def test_adjust_action_when_chosen_then_asks_for_deltas_and_note(admin_client, user):
    response = adjust(admin_client, [user])
    assert response.status_code == 200
    assert response.templates[0].name == "admin/progression/adjust_state.html"
    assert set(response.context["form"].fields) == {"energy", "fatigue", "loyalty", "note"}
    page = response.content.decode()
    assert user.email in page
    assert "adjust-state" in page.split("<body", 1)[1].split(">", 1)[0]  # the body's classes
    assert 'class="breadcrumbs"' in page
    assert not StateEvent.objects.exists()


def test_adjust_action_when_applied_then_adjustment_event_with_note_and_state_changed(admin_client, user):
    response = adjust(
        admin_client, [user], apply="1", energy=10, fatigue=5, loyalty=40, note="  goodwill for outage  "
    )
    assert response.status_code == 302
    event = StateEvent.objects.get(user=user)
    assert (event.kind, event.reference) == (EventKind.ADJUSTMENT, "goodwill for outage")
    assert (event.energy_delta, event.fatigue_delta, event.loyalty_delta) == (10, 5, 40)
    state = UserState.objects.get(user=user)
    assert (state.energy, state.fatigue, state.loyalty) == (60, 5, 40)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [f"Adjusted {user.email}: energy +10, fatigue +5, loyalty +40 (event #{event.pk})."]
    assert_ledger_clean()


def test_adjust_action_when_energy_reaches_max_then_levels_up_like_any_change(admin_client, user):
    adjust(admin_client, [user], apply="1", energy=50, fatigue=0, loyalty=0, note="level me")
    state = UserState.objects.get(user=user)
    assert (state.energy, state.level) == (0, 2)
    assert StateEvent.objects.get(user=user).level_delta == 1
    assert_ledger_clean()


def test_adjust_action_when_level_reward_unlocks_then_message_names_it(admin_client, user):
    from rewards.models import RewardDefinition

    RewardDefinition.objects.create(slug="level_2", title="Level two", condition="level", threshold=2)
    response = adjust(admin_client, [user], apply="1", energy=50, fatigue=0, loyalty=0, note="push")
    event = StateEvent.objects.get(user=user)
    messages = [str(m) for m in response.wsgi_request._messages]
    assert messages == [f"Adjusted {user.email}: energy -50, level +1 (event #{event.pk}); unlocked level_2."]
    assert UserReward.objects.filter(user=user, reward_id="level_2", claimed_at__isnull=True).exists()
    assert_ledger_clean()


def test_adjust_action_when_several_users_then_one_event_each(admin_client):
    users = UserFactory.create_batch(3)
    response = adjust(admin_client, users, apply="1", energy=0, fatigue=0, loyalty=-5, note="clawback")
    assert response.status_code == 302
    assert StateEvent.objects.filter(kind=EventKind.ADJUSTMENT, reference="clawback").count() == 3
    assert set(UserState.objects.filter(user__in=users).values_list("loyalty", flat=True)) == {0}
    assert_ledger_clean()


@pytest.mark.parametrize(
    ("fields", "error_field"),
    [
        ({"energy": 5, "fatigue": 0, "loyalty": 0, "note": "   "}, "note"),
        ({"energy": 0, "fatigue": 0, "loyalty": 0, "note": "nothing"}, "__all__"),
        ({"energy": 101, "fatigue": 0, "loyalty": 0, "note": "too much"}, "energy"),
        ({"energy": 0, "fatigue": 0, "loyalty": 1_000_001, "note": "typo"}, "loyalty"),
        ({"energy": "x", "fatigue": 0, "loyalty": 0, "note": "nan"}, "energy"),
    ],
)
def test_adjust_action_when_form_invalid_then_errors_shown_and_nothing_written(
    admin_client, user, fields, error_field
):
    response = adjust(admin_client, [user], apply="1", **fields)
    assert response.status_code == 200
    assert error_field in response.context["form"].errors
    assert not StateEvent.objects.exists()
    assert UserState.objects.get(user=user).energy == 50


def test_adjust_action_when_staff_lacks_permission_then_not_offered_and_not_run(user):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            codename__in=["view_user", "change_user"], content_type__app_label="accounts"
        )
    )
    client = Client()
    client.force_login(staff)
    changelist = client.get(USERS_URL)
    assert changelist.status_code == 200
    action_form = changelist.context["action_form"]
    assert action_form is None or "adjust_state" not in dict(action_form.fields["action"].choices)
    adjust(client, [user], apply="1", energy=5, fatigue=0, loyalty=0, note="sneaky")
    assert not StateEvent.objects.exists()

    staff.user_permissions.add(Permission.objects.get(codename="change_userstate"))
    client.force_login(UserFactory._meta.model.objects.get(pk=staff.pk))
    response = adjust(client, [user], apply="1", energy=5, fatigue=0, loyalty=0, note="allowed now")
    assert response.status_code == 302
    assert StateEvent.objects.get(user=user).reference == "allowed now"


@pytest.fixture
def history(user, catalog):
    """One row of every read-only model for `user`."""
    adjust_state(user=user, loyalty=50, note="budget")
    for day in range(1, 4):
        check_in(user=user, today=date(2030, 1, day))
    from inventory.services import buy_tool

    buy_tool(user=user, slug="coffee")
    return {
        "userstate": UserState.objects.get(user=user),
        "dailycheckin": DailyCheckIn.objects.filter(user=user).first(),
        "stateevent": StateEvent.objects.filter(user=user).first(),
        "userreward": UserReward.objects.filter(user=user).first(),
        "inventoryitem": InventoryItem.objects.filter(user=user).first(),
    }


READ_ONLY = [
    ("progression", "userstate"),
    ("progression", "dailycheckin"),
    ("progression", "stateevent"),
    ("rewards", "userreward"),
    ("inventory", "inventoryitem"),
]


@pytest.mark.parametrize(("app", "model"), READ_ONLY)
def test_read_only_model_when_superuser_then_list_and_view_but_no_add_change_delete(
    admin_client, history, app, model
):
    row = history[model]
    before = type(row).objects.filter(pk=row.pk).values().get()
    changelist = admin_client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    assert not changelist.context["has_add_permission"]
    assert changelist.context["action_form"] is None  # no actions at all, delete_selected included
    assert admin_client.get(reverse(f"admin:{app}_{model}_add")).status_code == 403
    view = admin_client.get(reverse(f"admin:{app}_{model}_change", args=[row.pk]))
    assert view.status_code == 200
    assert view.context["has_change_permission"] is False
    assert view.context["has_delete_permission"] is False
    assert admin_client.post(reverse(f"admin:{app}_{model}_change", args=[row.pk]), {}).status_code == 403
    deleted = admin_client.post(reverse(f"admin:{app}_{model}_delete", args=[row.pk]), {"post": "yes"})
    assert deleted.status_code == 403
    bulk = admin_client.post(
        reverse(f"admin:{app}_{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [str(row.pk)], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert type(row).objects.filter(pk=row.pk).values().get() == before


def test_event_changelist_when_filtered_by_user_then_only_their_events_in_bounded_queries(admin_client):
    mine, other = UserFactory.create_batch(2)
    for n in range(5):
        adjust_state(user=mine, loyalty=1, note=f"mine {n}")
        adjust_state(user=other, loyalty=1, note=f"other {n}")
    url = reverse("admin:progression_stateevent_changelist")

    def more_of_mine():
        for n in range(20):
            adjust_state(user=mine, loyalty=1, note=f"more {n}")

    response = assert_queries_do_not_grow(
        lambda: admin_client.get(url, {"user": str(mine.pk)}), more_of_mine, at_most=6
    )
    assert {e.user_id for e in response.context["cl"].result_list} == {mine.pk}
    assert response.context["cl"].result_list[0].reference == "more 19"
    assert response.context["cl"].result_count == 25


def test_event_changelist_when_kind_filter_then_only_that_kind(admin_client, user):
    adjust_state(user=user, loyalty=1, note="adj")
    check_in(user=user, today=timezone.now().date())
    response = admin_client.get(
        reverse("admin:progression_stateevent_changelist"), {"kind__exact": "check_in"}
    )
    assert [e.kind for e in response.context["cl"].result_list] == ["check_in"]


def test_state_changelist_when_many_users_then_queries_stay_bounded(admin_client):
    UserFactory.create_batch(2)
    url = reverse("admin:progression_userstate_changelist")
    response = assert_queries_do_not_grow(
        lambda: admin_client.get(url), lambda: UserFactory.create_batch(20), at_most=6
    )
    assert response.context["cl"].result_count == 22
