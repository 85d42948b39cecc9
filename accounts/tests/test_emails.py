"""Email addresses: one account per address in every spelling, and no lookalikes of one.

Each address below looks like (or is) an existing one; registering it is refused with 400
validation_error on the email field, or 409 email_taken, and never creates a second account.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from accounts.emails import canonical_email, clean_new_email, lookalike_key
from accounts.models import User
from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

REGISTER = "/api/v1/auth/register/"
TOKEN = "/api/v1/auth/token/"
PASSWORD = "plum-orbit-castle-71"
ZERO_WIDTH_SPACE = "\u200b"
CYRILLIC_A = "\u0430"
DOTLESS_I = "\u0131"
CAPITAL_I_WITH_DOT = "\u0130"


def register(client, email: str):
    return client.post(REGISTER, {"email": email, "password": PASSWORD}, format="json")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


LOOKALIKES = [
    # (existing address, lookalike, status, code)
    ("alice@example.com", f"al{DOTLESS_I}ce@example.com", 409, "email_taken"),
    ("alice@example.com", f"alice@ex{CYRILLIC_A}mple.com", 400, "validation_error"),
    ("alice@example.com", f"alice@example.com{ZERO_WIDTH_SPACE}", 400, "validation_error"),
    ("alice@example.com", f"ali{ZERO_WIDTH_SPACE}ce@example.com", 400, "validation_error"),
    ("alice@example.com", "alice@exam\u00adple.com", 400, "validation_error"),  # soft hyphen
    ("alice@example.com", "alice\u200e@example.com", 400, "validation_error"),  # left-to-right mark
    ("alice@example.com", fullwidth("alice") + "@example.com", 409, "email_taken"),
    ("alice@example.com", fullwidth("alice@example.com"), 409, "email_taken"),
    ("alice@example.com", "ALICE@EXAMPLE.COM", 409, "email_taken"),
    ("inci@example.com", f"{CAPITAL_I_WITH_DOT}nci@example.com", 409, "email_taken"),
    ("inci@example.com", "i\u0307nci@example.com", 400, "validation_error"),  # i + combining dot
    ("bob@ex\u00e4mple.com", "bob@xn--exmple-cua.com", 409, "email_taken"),
    ("bob@xn--exmple-cua.com", "bob@ex\u00e4mple.com", 409, "email_taken"),
    ("bob@xn--exmple-cua.com", "bob@EX\u00c4MPLE.com", 409, "email_taken"),
    ("carol@eximple.com", f"carol@ex{DOTLESS_I}mple.com", 409, "email_taken"),
    ("dan@ace.com", "dan@\u0430\u0441\u0435.com", 409, "email_taken"),  # the whole label Cyrillic
]


@pytest.mark.parametrize(("existing", "lookalike", "status", "code"), LOOKALIKES)
def test_register_lookalike_of_an_existing_email_is_refused_and_creates_no_account(
    api_client, existing, lookalike, status, code
):
    first = register(api_client, existing)
    assert first.status_code == 201, first.content

    response = register(api_client, lookalike)

    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if code == "validation_error":
        assert set(error["fields"]) == {"email"}
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    "lookalike",
    [f"alice@ex{CYRILLIC_A}mple.com", f"alice@example.com{ZERO_WIDTH_SPACE}", "i\u0307nci@example.com"],
)
def test_register_confusable_address_is_refused_even_when_nothing_looks_like_it_yet(api_client, lookalike):
    response = register(api_client, lookalike)

    assert response.status_code == 400, response.content
    assert set(response.json()["error"]["fields"]) == {"email"}
    assert not User.objects.exists()


def test_register_internationalized_domain_stores_a_labels_and_logs_in_with_either_spelling(api_client):
    response = register(api_client, "anna@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444")

    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "anna@xn--e1afmkfd.xn--p1ai"
    for spelling in ("anna@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444", "ANNA@xn--e1afmkfd.xn--p1ai"):
        login = api_client.post(TOKEN, {"email": spelling, "password": PASSWORD}, format="json")
        assert login.status_code == 200, (spelling, login.content)


def test_register_fullwidth_address_is_stored_in_plain_letters(api_client):
    response = register(api_client, fullwidth("erin") + "@example.com")

    assert response.status_code == 201, response.content
    assert User.objects.get().email == "erin@example.com"


def test_database_refuses_a_lookalike_written_around_the_api():
    UserFactory(email="frank@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        UserFactory(email=f"frank@ex{CYRILLIC_A}mple.com")


def test_admin_add_user_with_a_lookalike_email_shows_a_form_error(admin_client):
    UserFactory(email="gina@example.com")

    response = admin_client.post(
        reverse("admin:accounts_user_add"),
        {
            "email": "gina@ex\u0430mple.com",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
        },
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.filter(email__startswith="gina@").count() == 1


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ann@Example.COM ", "ann@example.com"),
        ("ann@EX\u00c4MPLE.com", "ann@xn--exmple-cua.com"),
        (f"{CAPITAL_I_WITH_DOT}NCI@example.com", "inci@example.com"),
        ("not-an-email", "not-an-email"),
    ],
)
def test_canonical_email_folds_case_width_and_domain_encoding(raw, expected):
    assert canonical_email(raw) == expected


def test_lookalike_key_keeps_distinct_ascii_addresses_apart():
    assert lookalike_key("bill1@example.com") != lookalike_key("billl@example.com")
    assert lookalike_key("modern@example.com") != lookalike_key("rnodern@example.com")
    assert lookalike_key(f"b{CYRILLIC_A}rt@example.com") == lookalike_key("bart@example.com")


def test_clean_new_email_accepts_a_single_script_internationalized_domain():
    assert clean_new_email("li@\u4f8b\u5b50.\u6d4b\u8bd5") == "li@xn--fsqu00a.xn--0zwm56d"
