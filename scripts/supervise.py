"""Run several commands together, and stop them together: what `make run` uses for the API and the worker.

    python scripts/supervise.py "web=python manage.py runserver" "worker=python manage.py run_worker"

Each command runs in a process group of its own, so stopping it reaches everything it started
(runserver's reloader, the worker's forked processes). One Ctrl-C (SIGINT) or a SIGTERM stops
every command: SIGINT to each group, as a terminal's Ctrl-C would send it (runserver and the
worker both stop cleanly on it), then SIGKILL to what is still alive after the grace period
(SUPERVISE_GRACE_SECONDS, 10). When one command exits on its own, the others are stopped the
same way and the supervisor exits with that command's status (1 if it was 0: these commands are
servers, they are not meant to stop). Output goes straight through.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time

POLL_SECONDS = 0.2


def log(message: str) -> None:
    print(f"supervise: {message}", file=sys.stderr, flush=True)


def parse(specs: list[str]) -> list[tuple[str, list[str]]]:
    commands = []
    for spec in specs:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            raise SystemExit(f'supervise: expected NAME=COMMAND, got "{spec}"')
        commands.append((name, shlex.split(command)))
    return commands


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_all(processes: dict[str, subprocess.Popen], grace: float) -> None:
    """SIGINT every group, then SIGKILL the groups still alive after `grace` seconds."""
    for proc in processes.values():
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        for proc in processes.values():
            proc.poll()
        if not any(group_alive(proc.pid) for proc in processes.values()):
            return
        time.sleep(POLL_SECONDS)
    for name, proc in processes.items():
        if group_alive(proc.pid):
            log(f"{name} still running after {grace:g} s: killing it")
            os.killpg(proc.pid, signal.SIGKILL)
    for proc in processes.values():
        proc.wait()


def main(argv: list[str]) -> int:
    commands = parse(argv)
    if not commands:
        raise SystemExit(__doc__)
    grace = float(os.environ.get("SUPERVISE_GRACE_SECONDS", "10"))
    received: list[int] = []

    def on_signal(signum, frame):
        received.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    processes: dict[str, subprocess.Popen] = {}
    try:
        for name, command in commands:
            processes[name] = subprocess.Popen(command, start_new_session=True)  # noqa: S603 - the operator's own commands
            log(f"started {name} (pid {processes[name].pid}): {shlex.join(command)}")
        while not received:
            exited = [(name, proc.returncode) for name, proc in processes.items() if proc.poll() is not None]
            if exited:
                name, code = exited[0]
                log(f"{name} exited with status {code}: stopping the others")
                stop_all(processes, grace)
                return code or 1
            time.sleep(POLL_SECONDS)
        log(f"{signal.Signals(received[0]).name}: stopping {', '.join(processes)}")
        stop_all(processes, grace)
        return 128 + received[0]
    finally:
        # Whatever happened above (a failed start, an exception), nothing is left running.
        for proc in processes.values():
            if group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
