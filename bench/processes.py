"""Stopping the bench's child processes, each started as the leader of a session of its own."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_process_group(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process group the child leads, then SIGKILL.

    Children start in sessions of their own so that Ctrl-C reaches only the orchestrator, which
    stops them in order; signalling the whole group takes gunicorn's workers down with their master.
    """
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)
