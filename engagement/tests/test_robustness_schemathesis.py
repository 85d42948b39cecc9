"""Schema fuzzing: Schemathesis against the live server, every operation, with and without a token.

The app runs under gunicorn on the test database; Schemathesis loads /api/schema/ and checks
that no answer is a 5xx, every status code and content type is documented, and every body
matches its documented schema. Bounded: 25 examples per operation, a fixed seed (override
with SCHEMATHESIS_SEED to explore), a hard timeout per run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

try:
    import schemathesis
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("schemathesis is not installed (requirements-dev.txt)", allow_module_level=True)

from accounts.tests.factories import UserFactory
from engagement.audit import verify_ledger
from engagement.tests.test_robustness_multiprocess import flush_redis, running_gunicorn, server_log_errors
from inventory.services import seed_tools
from progression.services import adjust_state, check_in
from rewards.services import seed_rewards

ST = Path(sys.executable).with_name("st")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
MAX_EXAMPLES = 25
RUN_TIMEOUT = 240
# Real catalog slugs most of the time, so the fuzzing reaches the services, not only the 404s.
CONFIG = """
[dictionaries.tools]
values = ["coffee", "rest", "focus"]

[dictionaries.rewards]
values = ["streak_3", "streak_7", "checkins_10"]

[[operations]]
include-path-regex = "^/api/v1/(tools|inventory)/"
parameters = { "path.slug" = { dictionary = "tools", probability = 0.8 } }

[[operations]]
include-path-regex = "^/api/v1/rewards/"
parameters = { "path.slug" = { dictionary = "rewards", probability = 0.8 } }
"""
UNTHROTTLED = {
    name: "100000/min" for name in ("THROTTLE_REGISTER", "THROTTLE_LOGIN", "THROTTLE_USER", "THROTTLE_ANON")
}


def seeded_user():
    """A user with loyalty to spend and a 3-day streak (streak_3 claimable), as a fuzzing target."""
    seed_tools()
    seed_rewards()
    user = UserFactory()
    today = timezone.now().date()
    for days_ago in (3, 2, 1):
        check_in(user=user, today=today - timedelta(days=days_ago))
    adjust_state(user=user, note="fuzzing budget", loyalty=500)
    return user


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer-token"])
def test_schemathesis_every_operation_finds_no_5xx_and_no_undocumented_answer(tmp_path, authenticated):
    assert schemathesis.__version__ == "4.32.5"
    flush_redis()
    user = seeded_user()
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    headers = (
        ["--header", f"Authorization: Bearer {RefreshToken.for_user(user).access_token}"]
        if authenticated
        else []
    )

    with running_gunicorn(tmp_path, workers=2, env=UNTHROTTLED) as base_url:
        completed = subprocess.run(
            [
                str(ST),
                "--config-file",
                str(config),
                "--no-color",
                "run",
                f"{base_url}/api/schema/",
                "--url",
                base_url,
                "--checks",
                CHECKS,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                os.environ.get("SCHEMATHESIS_SEED", "1"),
                "--request-timeout",
                "30",
                *headers,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-12000:]
    operations = re.search(r"Operations:\s+(\d+) selected / (\d+) total", output)
    assert operations, output[-4000:]
    assert int(operations[1]) == int(operations[2]) >= 17
    assert not server_log_errors(tmp_path)
    report = verify_ledger()
    assert report.ok, report.mismatches
