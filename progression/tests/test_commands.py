"""grant_loyalty and verify_ledger, called in-process and as `manage.py` in a subprocess
(the real exit status and stderr an operator or deploy script sees)."""

import os
import re
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from accounts.tests.factories import UserFactory
from engagement.testing import current_database_url
from progression.models import EventKind, StateEvent, UserState
from progression.services import adjust_state

pytestmark = pytest.mark.django_db


def manage(*args: str) -> subprocess.CompletedProcess:
    """Run manage.py against the test database (the caller's rows must be committed)."""
    return subprocess.run(
        [sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": current_database_url()},
        check=False,
    )


def run(name: str, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_grant_loyalty_when_user_exists_then_adjustment_event_and_ledger_clean(user):
    out, _ = run("grant_loyalty", "--email", user.email.upper(), "--amount", "25")
    event = StateEvent.objects.get(user=user)
    assert (event.kind, event.reference, event.loyalty_delta, event.loyalty) == (
        EventKind.ADJUSTMENT,
        "grant_loyalty",
        25,
        25,
    )
    assert UserState.objects.get(user=user).loyalty == 25
    assert f"loyalty 0 -> 25 (adjustment event #{event.pk}" in out
    assert "ledger OK: 1 users, 1 events verified" in run("verify_ledger")[0]


def test_grant_loyalty_when_note_given_then_it_is_the_event_reference(user):
    run("grant_loyalty", "--email", user.email, "--amount", "7", "--note", "support ticket 4411")
    assert StateEvent.objects.get(user=user).reference == "support ticket 4411"


def test_grant_loyalty_when_negative_beyond_balance_then_stops_at_zero_and_ledger_clean(user):
    adjust_state(user=user, loyalty=10, note="start")
    out, _ = run("grant_loyalty", "--email", user.email, "--amount", "-30", "--note", "clawback")
    assert UserState.objects.get(user=user).loyalty == 0
    assert StateEvent.objects.filter(user=user).latest("id").loyalty_delta == -10
    assert "loyalty 10 -> 0" in out
    run("verify_ledger")


def test_grant_loyalty_when_unknown_email_then_exit_2_and_nothing_written(user):
    with pytest.raises(CommandError, match=re.escape("No user with email 'nobody@example.com'")) as raised:
        run("grant_loyalty", "--email", "nobody@example.com", "--amount", "5")
    assert raised.value.returncode == 2
    assert not StateEvent.objects.exists()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "non-zero"),
        ("1000001", "less than or equal to 1000000"),
        ("-1000001", "greater than or equal to -1000000"),
    ],
)
def test_grant_loyalty_when_amount_out_of_range_then_exit_2_and_nothing_written(user, amount, message):
    with pytest.raises(CommandError, match=message) as raised:
        run("grant_loyalty", "--email", user.email, "--amount", amount)
    assert raised.value.returncode == 2
    assert "--amount" in str(raised.value)
    assert not StateEvent.objects.exists()


def test_grant_loyalty_when_note_blank_then_exit_2(user):
    with pytest.raises(CommandError, match="--note") as raised:
        run("grant_loyalty", "--email", user.email, "--amount", "5", "--note", "   ")
    assert raised.value.returncode == 2
    assert not StateEvent.objects.exists()


def test_verify_ledger_when_clean_then_exit_0_and_reports_counts():
    for user in UserFactory.create_batch(3):
        adjust_state(user=user, loyalty=4, energy=3, note="x")
    out, err = run("verify_ledger")
    assert out.strip() == "ledger OK: 3 users, 3 events verified"
    assert err == ""


def test_verify_ledger_when_state_corrupted_then_exit_1_naming_user_and_field():
    good, bad = UserFactory.create_batch(2)
    for user in (good, bad):
        adjust_state(user=user, loyalty=20, note="x")
    UserState.objects.filter(user=bad).update(loyalty=999)  # bypasses the service and the ledger
    err = StringIO()
    with pytest.raises(CommandError, match="1 of 2 users differ") as raised:
        call_command("verify_ledger", stdout=StringIO(), stderr=err)
    assert raised.value.returncode == 1
    report = err.getvalue()
    assert f"MISMATCH user {bad.email} ({bad.pk}):" in report
    assert "loyalty stored 999, ledger replay gives 20" in report
    assert good.email not in report


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
class TestManagePy:
    """The exit status, stdout and stderr of the real command line."""

    def test_grant_loyalty_when_unknown_email_then_exit_2_message_and_no_traceback(self):
        result = manage("grant_loyalty", "--email", "ghost@example.com", "--amount", "5")
        assert result.returncode == 2, result
        assert "No user with email 'ghost@example.com'" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout

    def test_grant_loyalty_when_amount_not_a_number_then_exit_2_with_usage(self):
        result = manage("grant_loyalty", "--email", "a@example.com", "--amount", "lots")
        assert result.returncode == 2
        assert "--amount: invalid int value: 'lots'" in result.stderr
        assert "Traceback" not in result.stderr

    def test_grant_loyalty_when_user_exists_then_exit_0_and_event_written(self):
        user = UserFactory()
        result = manage("grant_loyalty", "--email", user.email, "--amount", "12", "--note", "cli")
        assert result.returncode == 0, result.stderr
        assert StateEvent.objects.get(user=user).reference == "cli"
        assert UserState.objects.get(user=user).loyalty == 12

    def test_verify_ledger_when_clean_then_exit_0_and_when_corrupted_then_exit_1(self):
        user = UserFactory()
        adjust_state(user=user, loyalty=3, note="x")
        clean = manage("verify_ledger")
        assert clean.returncode == 0, clean.stderr
        assert "ledger OK: 1 users, 1 events verified" in clean.stdout
        UserState.objects.filter(user=user).update(loyalty=300)
        broken = manage("verify_ledger")
        assert broken.returncode == 1
        assert f"MISMATCH user {user.email} ({user.pk})" in broken.stderr
        assert "Traceback" not in broken.stderr

    def test_help_when_asked_then_each_command_explains_itself(self):
        for command, words in [
            ("grant_loyalty", ["--email", "--amount", "--note", "adjustment", "Exit status"]),
            ("verify_ledger", ["Exit status", "--max-problems"]),
            ("seed_catalog", ["twice"]),
        ]:
            result = manage(command, "--help")
            assert result.returncode == 0
            text = " ".join(result.stdout.split())
            assert all(word in text for word in words), (command, text)
