"""scripts/supervise.py, what `make run` starts the API and the worker with: one Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from engagement.testing import eventually

pytestmark = [pytest.mark.slow, pytest.mark.server]

SUPERVISE = Path(settings.BASE_DIR, "scripts", "supervise.py")

# A child that starts a grandchild (as runserver's reloader and the worker's processes do),
# writes both pids, and runs until stopped; with "stubborn" it ignores SIGINT.
CHILD = """
import os, signal, subprocess, sys, time
name, folder, mode = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "stubborn":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
open(os.path.join(folder, name), "w").write(f"{os.getpid()} {grandchild.pid}")
if mode.startswith("exit"):
    time.sleep(0.5)
    sys.exit(int(mode[4:]))
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def start(tmp_path: Path, *modes: str, grace: float = 2) -> subprocess.Popen:
    specs = [f"c{i}={sys.executable} -c '{CHILD}' c{i} {tmp_path} {mode}" for i, mode in enumerate(modes)]
    env = {**os.environ, "SUPERVISE_GRACE_SECONDS": str(grace)}
    supervisor = subprocess.Popen(
        [sys.executable, str(SUPERVISE), *specs], env=env, stderr=subprocess.PIPE, text=True
    )
    eventually(lambda: all((tmp_path / f"c{i}").exists() for i in range(len(modes))), timeout=30)
    return supervisor


def pids(tmp_path: Path, count: int) -> list[int]:
    return [int(pid) for i in range(count) for pid in (tmp_path / f"c{i}").read_text().split()]


def test_supervise_when_ctrl_c_then_every_command_and_its_children_stop(tmp_path):
    supervisor = start(tmp_path, "run", "run")
    everything = pids(tmp_path, 2)
    assert all(alive(pid) for pid in everything)
    supervisor.send_signal(signal.SIGINT)
    assert supervisor.wait(timeout=20) == 130
    assert not any(alive(pid) for pid in everything)
    assert "SIGINT: stopping c0, c1" in supervisor.stderr.read()


def test_supervise_when_one_command_exits_then_the_others_are_stopped_with_its_status(tmp_path):
    supervisor = start(tmp_path, "run", "exit3")
    everything = pids(tmp_path, 2)
    assert supervisor.wait(timeout=20) == 3
    assert not any(alive(pid) for pid in everything)
    assert "c1 exited with status 3" in supervisor.stderr.read()


def test_supervise_when_a_command_ignores_sigint_then_killed_after_the_grace_period(tmp_path):
    supervisor = start(tmp_path, "stubborn", "run", grace=1)
    everything = pids(tmp_path, 2)
    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=20) == 128 + signal.SIGTERM
    assert time.monotonic() - started >= 1
    assert not any(alive(pid) for pid in everything)
    assert "c0 still running after 1 s: killing it" in supervisor.stderr.read()


def test_supervise_when_given_no_name_then_refuses():
    completed = subprocess.run(
        [sys.executable, str(SUPERVISE), "python -V"], capture_output=True, text=True, timeout=30, check=False
    )
    assert completed.returncode != 0
    assert "expected NAME=COMMAND" in completed.stderr


def test_make_run_processes_when_on_sqlite_then_a_check_in_reaches_a_receiver_and_ctrl_c_stops_both(tmp_path):
    """What `make run` starts (runserver and run_worker under supervise.py) on a fresh SQLite database."""
    from engagement.testing import WebhookReceiver, environment_without, free_port, manage_py

    env = environment_without(
        "DJANGO_",
        "DATABASE_",
        "REDIS_",
        "WEBHOOK_",
        "WORKER_",
        "PYTEST_",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_DEBUG="true",
        WEBHOOK_ALLOW_INSECURE="true",
        WORKER_POLL_SECONDS="0.1",
    )

    def manage(*args: str) -> str:
        return manage_py(*args, env=env, check=True).stdout

    manage("migrate", "--noinput")
    manage("seed_catalog")
    port = free_port()
    with WebhookReceiver() as receiver:
        added = manage("webhook_endpoint", "add", "--url", receiver.url, "--events", "check_in.created")
        receiver.secret = next(line.split()[1] for line in added.splitlines() if line.startswith("secret:"))
        supervisor = subprocess.Popen(
            [
                sys.executable,
                str(SUPERVISE),
                f"web={sys.executable} manage.py runserver 127.0.0.1:{port}",
                f"worker={sys.executable} manage.py run_worker",
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            import httpx

            api = f"http://127.0.0.1:{port}/api/v1"

            def register():
                try:
                    return httpx.post(
                        f"{api}/auth/register/",
                        json={"email": "ada@example.com", "password": "a long passphrase 42"},
                        timeout=5,
                    )
                except httpx.HTTPError:
                    return None

            registered = eventually(register, timeout=60)
            assert registered.status_code == 201, registered.text
            token = registered.json()["access"]
            checked_in = httpx.post(
                f"{api}/checkins/", headers={"Authorization": f"Bearer {token}"}, timeout=10
            )
            assert checked_in.status_code == 201
            receiver.wait_for(lambda r: len(r.received) == 1, timeout=60)
        finally:
            supervisor.send_signal(signal.SIGINT)
            code = supervisor.wait(timeout=60)
    (delivery,) = receiver.received
    assert delivery.verified and delivery.payload["type"] == "check_in.created"
    assert code == 130
    log = supervisor.stderr.read()
    assert "SIGINT: stopping web, worker" in log
    assert "still running" not in log  # both stopped on SIGINT, within the grace period
