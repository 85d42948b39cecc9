"""Users in the admin: email + password creation, read-only panels of state, inventory, rewards
and the latest events, bounded queries."""

from datetime import date

import pytest
from django.urls import reverse

from accounts.models import User
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from engagement.testing import assert_queries_do_not_grow
from inventory.services import buy_tool
from progression.admin import LATEST_EVENTS
from progression.models import StateEvent, UserState
from progression.services import adjust_state, check_in
from rewards.models import UserReward

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:accounts_user_add")
LIST_URL = reverse("admin:accounts_user_changelist")


def change_url(user) -> str:
    return reverse("admin:accounts_user_change", args=[user.pk])


def posted_back(response, **changes) -> dict:
    """What a browser posts from the user change page: the fields plus each inline's hidden inputs."""
    user = response.context["original"]
    data = {"email": user.email, "display_name": user.display_name}
    data.update({name: "on" for name in ("is_active", "is_staff", "is_superuser") if getattr(user, name)})
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        for bound in [*formset.management_form, *(f for form in formset for f in form.hidden_fields())]:
            value = bound.value()
            data[bound.html_name] = "" if value is None else str(value)
    data.update(changes)
    return data


def test_user_changelist_when_many_users_then_queries_stay_bounded(admin_client):
    UserFactory.create_batch(3)
    response = assert_queries_do_not_grow(
        lambda: admin_client.get(LIST_URL), lambda: UserFactory.create_batch(20), at_most=6
    )
    assert len(response.context["cl"].result_list) == 24  # 23 users and the admin


def test_user_changelist_search_when_email_or_id_then_finds_the_user(admin_client):
    target, _other = UserFactory(email="findme@example.com"), UserFactory()
    by_email = admin_client.get(LIST_URL, {"q": "findme"}).context["cl"].result_list
    by_id = admin_client.get(LIST_URL, {"q": str(target.pk)}).context["cl"].result_list
    assert [u.pk for u in by_email] == [target.pk]
    assert [u.pk for u in by_id] == [target.pk]


def test_user_add_when_email_and_password_then_user_can_log_in_and_has_state(admin_client, api_client):
    response = admin_client.post(
        ADD_URL,
        {
            "email": "New.Operator@Example.com",
            "display_name": "Newbie",
            "password1": DEFAULT_PASSWORD,
            "password2": DEFAULT_PASSWORD,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.operator@example.com")
    assert user.display_name == "Newbie"
    assert user.check_password(DEFAULT_PASSWORD)
    assert UserState.objects.filter(user=user, energy=50, loyalty=0).exists()
    token = api_client.post(
        "/api/v1/auth/token/", {"email": "new.operator@example.com", "password": DEFAULT_PASSWORD}
    )
    assert token.status_code == 200


def test_user_add_page_when_opened_then_asks_email_and_password_not_username(admin_client):
    response = admin_client.get(ADD_URL)
    assert response.status_code == 200
    assert set(response.context["adminform"].form.fields) == {
        "email",
        "display_name",
        "password1",
        "password2",
    }
    assert "username" not in response.content.decode().lower()


@pytest.mark.parametrize(
    ("email", "password2", "field"),
    [
        ("TAKEN@example.com", DEFAULT_PASSWORD, "email"),
        ("fresh@example.com", "something-else-entirely-7", "password2"),
        ("not-an-email", DEFAULT_PASSWORD, "email"),
    ],
)
def test_user_add_when_invalid_then_form_error_and_no_user(admin_client, email, password2, field):
    UserFactory(email="taken@example.com")
    before = User.objects.count()
    response = admin_client.post(
        ADD_URL, {"email": email, "password1": DEFAULT_PASSWORD, "password2": password2}
    )
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert User.objects.count() == before


def test_user_change_page_when_user_has_history_then_shows_state_inventory_rewards_latest_events(
    admin_client, user, catalog, django_assert_max_num_queries
):
    adjust_state(user=user, loyalty=100, note="budget")
    buy_tool(user=user, slug="coffee")
    for day in range(1, 4):
        check_in(user=user, today=date(2030, 1, day))
    for n in range(LATEST_EVENTS):
        adjust_state(user=user, energy=1 if n % 2 else -1, note=f"nudge {n}")
    newest = StateEvent.objects.filter(user=user).order_by("-id")
    with django_assert_max_num_queries(15):
        response = admin_client.get(change_url(user))
    assert response.status_code == 200
    inlines = {inline.opts.__class__.__name__: inline for inline in response.context["inline_admin_formsets"]}
    assert list(inlines) == [
        "UserStateInline",
        "InventoryItemInline",
        "UserRewardInline",
        "LatestEventsInline",
    ]
    shown_events = [form.instance.pk for form in inlines["LatestEventsInline"].formset]
    assert shown_events == list(newest.values_list("pk", flat=True)[:LATEST_EVENTS])
    assert [form.instance.tool_id for form in inlines["InventoryItemInline"].formset] == ["coffee"]
    assert [form.instance.reward_id for form in inlines["UserRewardInline"].formset] == ["streak_3"]
    assert [form.instance.loyalty for form in inlines["UserStateInline"].formset] == [
        UserState.objects.get(user=user).loyalty
    ]
    for inline in inlines.values():
        assert not inline.has_add_permission
        assert not inline.has_change_permission
        assert not inline.has_delete_permission
    assert f"?user={user.pk}" in response.content.decode()


def test_user_change_page_query_count_when_more_history_then_does_not_grow(admin_client, user):
    adjust_state(user=user, loyalty=5, note="one")

    def more_history():
        for n in range(3 * LATEST_EVENTS):
            adjust_state(user=user, loyalty=1, note=f"more {n}")

    assert_queries_do_not_grow(lambda: admin_client.get(change_url(user)), more_history, at_most=15)


def test_user_change_when_saved_after_new_events_then_profile_saved_and_ledger_untouched(admin_client, user):
    # A full page of events: the one written while the page is open pushes the oldest off it.
    for n in range(LATEST_EVENTS):
        adjust_state(user=user, loyalty=1, note=f"before {n}")
    page = admin_client.get(change_url(user))
    adjust_state(user=user, loyalty=2, note="while the page was open")
    events = list(StateEvent.objects.filter(user=user).order_by("id").values())
    response = admin_client.post(change_url(user), posted_back(page, display_name="Renamed"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.display_name == "Renamed"
    assert list(StateEvent.objects.filter(user=user).order_by("id").values()) == events
    assert UserState.objects.get(user=user).loyalty == LATEST_EVENTS + 2


def test_user_change_when_email_taken_in_other_case_then_form_error(admin_client, user):
    UserFactory(email="other@example.com")
    page = admin_client.get(change_url(user))
    response = admin_client.post(change_url(user), posted_back(page, email="OTHER@example.com"))
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_user_change_page_when_no_state_yet_then_renders(admin_client):
    stateless = UserFactory(with_state=False)
    response = admin_client.get(change_url(stateless))
    assert response.status_code == 200
    assert not UserReward.objects.filter(user=stateless).exists()


def test_user_password_when_set_in_admin_then_user_logs_in_with_it(admin_client, user, api_client):
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = admin_client.post(
        url,
        {"password1": "An0ther-long-secret", "password2": "An0ther-long-secret", "usable_password": "true"},
    )
    assert response.status_code == 302
    token = api_client.post("/api/v1/auth/token/", {"email": user.email, "password": "An0ther-long-secret"})
    assert token.status_code == 200
