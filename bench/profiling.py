"""Profiling with py-spy: recording the gunicorn workers, and splitting their samples by layer and stage."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from bench.processes import stop_process_group


def py_spy_path() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise RuntimeError("--profile needs py-spy: pip install py-spy==0.4.3")
    return found


class Profiler:
    """py-spy sampling every gunicorn worker while it holds the GIL (Python CPU, not waits)."""

    def __init__(self, master_pid: int, out_path: Path):
        self.master_pid = master_pid
        self.out_path = out_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        command = [py_spy_path(), "record", "--pid", str(self.master_pid), "--subprocesses", "--gil"]
        command += ["--rate", "200", "--nonblocking", "--format", "raw", "--output", str(self.out_path)]
        self.proc = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        time.sleep(1.0)  # attach to every worker before the clock starts

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            stop_process_group(self.proc)


# Where the workers' Python CPU goes, by the library of the innermost frame.
PROFILE_LAYERS = [
    ("psycopg (send, receive, adapt)", ("psycopg/", "psycopg_pool/", "psycopg_binary/")),
    ("Django ORM (query building, model instances)", ("django/db/",)),
    ("DRF serializers and fields", ("rest_framework/serializers.py", "rest_framework/fields.py")),
    ("JWT (simplejwt, PyJWT)", ("rest_framework_simplejwt/", "jwt/")),
    ("DRF other (request, views, throttles, renderers)", ("rest_framework/",)),
    ("gunicorn (HTTP parsing, sockets)", ("gunicorn/",)),
    ("Django request handling and middleware", ("django/", "whitenoise/")),
    ("app code", ("engagement/", "accounts/", "progression/", "inventory/", "rewards/")),
]
# Stages of a request: samples with the function anywhere on the stack.
PROFILE_STAGES = [
    ("JWT authentication (incl. its user query)", "JWTAuthentication.authenticate"),
    ("throttle check", "APIView.check_throttles"),
    ("the service call (transaction)", "services.py"),
    ("  lock_state (SELECT ... FOR UPDATE)", "lock_state ("),
    ("  record_change (UPDATE state, INSERT event)", "record_change ("),
    ("  reward unlocking hook", "unlock_after_change ("),
    ("  commit", "Atomic.__exit__"),
    ("response: serializers + JSON rendering", "Response.rendered_content"),
    ("all SQL execution (CursorWrapper.execute*)", "CursorWrapper._execute ("),
    ("gunicorn outside the WSGI app", None),
]


def _frame_name(frame: str) -> tuple[str, str]:
    """py-spy's raw frame 'function (path/file.py:line)' -> (function, path/file.py)."""
    function, _, rest = frame.partition(" (")
    return function, rest.rsplit(":", 1)[0].rstrip(")")


def analyze_profile(raw_path: Path, limit: int = 20) -> dict:
    """Own-time top functions, the split by layer and by request stage, from py-spy's raw output."""
    own, layers, stages, total = defaultdict(int), defaultdict(int), defaultdict(int), 0
    with open(raw_path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not count.isdigit():
                continue
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            n = int(count)
            total += n
            function, path = _frame_name(frames[-1])
            own[f"{function} ({path})"] += n
            layer = next((name for name, roots in PROFILE_LAYERS if any(r in path for r in roots)), "other")
            layers[layer] += n
            joined = ";".join(frames)
            for name, marker in PROFILE_STAGES:
                if marker is None:
                    if "ThreadWorker.handle" in joined and "WSGIHandler.__call__" not in joined:
                        stages[name] += n
                elif marker in joined:
                    stages[name] += n

    def ranked(counts: dict, top: int | None = None) -> list[dict]:
        items = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return [
            {"name": k, "samples": v, "percent": round(100 * v / total, 1) if total else 0.0}
            for k, v in items
        ]

    return {
        "samples": total,
        "own": ranked(own, limit),
        "layers": ranked(layers),
        "stages": [
            {
                "name": name,
                "samples": stages[name],
                "percent": round(100 * stages[name] / total, 1) if total else 0,
            }
            for name, _ in PROFILE_STAGES
        ],
    }
