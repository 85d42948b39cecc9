"""Schema fuzzing: Schemathesis against the live server, every operation, with and without a token.

The app runs under gunicorn with production settings on the test database; Schemathesis loads
/api/schema/ and runs every check it has (`--checks all`: no 5xx, every status code, content
type, header and body as documented, schema-valid data accepted and schema-invalid data
refused, missing auth refused, unsupported methods refused, ...) in every phase: coverage
(boundary and type-violating values of every parameter), fuzzing (positive and negative
data) and stateful (sequences of calls linked through their responses). A hook gives every
request its own Idempotency-Key (see engagement/tests/schemathesis_hooks.py). Bounded: 25
examples per operation, a fixed seed (override with SCHEMATHESIS_SEED to explore), a hard
timeout per run; each run takes about a minute and a half.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

try:
    import schemathesis
except ImportError:  # pragma: no cover - requirements-dev.txt installs it
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip("schemathesis is not installed (requirements-dev.txt)", allow_module_level=True)

from accounts.tests.factories import UserFactory
from engagement.testing import assert_ledger_clean, flush_redis, running_gunicorn, server_log_errors
from inventory.services import seed_tools
from leaderboards.services import seed_boards
from progression.services import adjust_state, check_in
from rewards.services import seed_rewards

ST = Path(sys.executable).with_name("st")
PHASES = "examples,coverage,fuzzing,stateful"
MAX_EXAMPLES = 25
RUN_TIMEOUT = 480
# Real catalog slugs most of the time, so the fuzzing reaches the services, not only the 404s.
CONFIG = """
[dictionaries.tools]
values = ["coffee", "rest", "focus"]

[dictionaries.rewards]
values = ["streak_3", "streak_7", "checkins_10"]

[dictionaries.leaderboards]
values = ["weekly_loyalty", "monthly_checkins", "best_streak"]

[[operations]]
include-path-regex = "^/api/v1/(tools|inventory)/"
parameters = { "path.slug" = { dictionary = "tools", probability = 0.8 } }

[[operations]]
include-path-regex = "^/api/v1/rewards/"
parameters = { "path.slug" = { dictionary = "rewards", probability = 0.8 } }

[[operations]]
include-path-regex = "^/api/v1/leaderboards/"
parameters = { "path.slug" = { dictionary = "leaderboards", probability = 0.8 } }

# A well-formed body with the wrong current password is refused 400 `invalid_current_password`:
# no schema can say which password is the right one (Schemathesis makes the same allowance for
# operations that mint credentials). Every other status keeps Schemathesis' default expectation.
[[operations]]
include-path = "/api/v1/auth/password/"
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx",
]
"""
# The token goes to the schema's own security scheme, so Schemathesis also knows how to send a
# request without it (and expects 401 then).
BEARER_CONFIG = """
[auth.openapi.jwtAuth]
bearer = "{token}"
"""
# Anonymous means anonymous: no account signed up on the fly either.
ANONYMOUS_CONFIG = """
[auth]
auto-signup = false
"""
UNTHROTTLED = {
    name: "100000/min" for name in ("THROTTLE_REGISTER", "THROTTLE_LOGIN", "THROTTLE_USER", "THROTTLE_ANON")
}


def seeded_user():
    """A user with loyalty to spend and a 3-day streak (streak_3 claimable), as a fuzzing target."""
    seed_tools()
    seed_rewards()
    seed_boards()
    user = UserFactory()
    today = timezone.now().date()
    for days_ago in (3, 2, 1):
        check_in(user=user, today=today - timedelta(days=days_ago))
    adjust_state(user=user, note="fuzzing budget", loyalty=500)
    return user


def generated_counts(call_log: Path) -> dict[str, Counter]:
    """Requests per phase, split by the data's polarity and by status class."""
    counts: dict[str, Counter] = {}
    for line in call_log.read_text().splitlines():
        call = json.loads(line)
        phase = counts.setdefault(call["phase"], Counter())
        phase["requests"] += 1
        phase[call["mode"]] += 1
        phase[f"{call['status'] // 100}xx"] += 1
    return counts


def summary(report: dict, counts: dict[str, Counter]) -> str:
    lines = [f"test cases: {report['test_cases']}"]
    for phase, info in report["phases"].items():
        lines.append(f"{phase}: {info['status']} {dict(sorted(counts.get(phase, Counter()).items()))}")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.schemathesis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("authenticated", [False, True], ids=["anonymous", "bearer-token"])
def test_schemathesis_all_checks_all_phases_find_no_failure(tmp_path, authenticated):
    assert schemathesis.__version__ == "4.32.5"
    flush_redis()
    user = seeded_user()
    config = tmp_path / "schemathesis.toml"
    auth = (
        BEARER_CONFIG.format(token=RefreshToken.for_user(user).access_token)
        if authenticated
        else ANONYMOUS_CONFIG
    )
    config.write_text(auth + CONFIG)
    call_log = tmp_path / "calls.ndjson"
    environment = {
        **os.environ,
        "PYTHONPATH": str(settings.BASE_DIR),
        "SCHEMATHESIS_HOOKS": "engagement.tests.schemathesis_hooks",
        "SCHEMATHESIS_CALL_LOG": str(call_log),
    }

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
                "all",
                "--phases",
                PHASES,
                "--mode",
                "all",
                "--max-examples",
                str(MAX_EXAMPLES),
                "--seed",
                os.environ.get("SCHEMATHESIS_SEED", "1"),
                "--request-timeout",
                "30",
                "--report",
                "json",
                "--report-json-path",
                str(tmp_path / "report.json"),
            ],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )

    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-12000:]
    report = json.loads((tmp_path / "report.json").read_text())
    counts = generated_counts(call_log)
    print(summary(report, counts))  # the run's numbers, shown with -rP
    assert report["failures"] == [] and report["errors"] == [], output[-12000:]
    assert report["test_cases"]["with_failures"] == 0
    operations = report["operations"]
    assert operations["selected"] == operations["total"] == operations["tested"] >= 17, operations
    for phase in ("coverage", "fuzzing", "stateful"):
        assert report["phases"][phase]["status"] == "success", summary(report, counts)
        assert counts[phase]["positive"] > 0, summary(report, counts)
    for phase in ("coverage", "fuzzing"):
        assert counts[phase]["negative"] > 0, summary(report, counts)
    assert counts["fuzzing"]["2xx"] > 0 if authenticated else counts["fuzzing"]["4xx"] > 0
    assert not server_log_errors(tmp_path)
    assert_ledger_clean()
