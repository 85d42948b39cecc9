"""Slow clients: 24 connections trickle request bodies while /healthz is probed.

Against gunicorn (one worker of four threads here) each trickling connection holds a thread
while it sends; with every thread held, /healthz waits. Two defences are measured:

- behind nginx as docker-compose runs it (docker/nginx.conf), the clients never reach
  gunicorn until their request is whole: /healthz stays fast however long the attack lasts;
- straight to gunicorn, the app's body deadline (REQUEST_BODY_TIMEOUT, engagement/serving.py)
  frees each thread after that many seconds with a 408, so the stall is bounded: N slow
  connections on T threads delay /healthz by at most about N / T x the timeout, then it answers
  at once again. Without the deadline a thread is held as long as the client keeps sending. An
  attacker who reconnects at once keeps the threads busy all the same: hence the README's rule,
  gunicorn never faces clients directly.

Run with -s to see the measured probe latencies.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from engagement.testing import SERVER_TEST_MARKS, free_port, gunicorn_server

pytestmark = SERVER_TEST_MARKS

CI = os.environ.get("CI", "").lower() == "true"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TRICKLERS = 24
THREADS = 4
ATTACK_SECONDS = 8
BODY_TIMEOUT = 3
SERVER = {
    "GUNICORN_WORKERS": "1",
    "GUNICORN_THREADS": str(THREADS),
    "REQUEST_BODY_TIMEOUT": str(BODY_TIMEOUT),
}


def address(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


def trickle(target: tuple[str, int], stop: threading.Event, answers: list[bytes], *, reconnect: bool) -> None:
    """Send a request whose 1,000-byte body comes one byte every half second, until `stop`."""
    while not stop.is_set():
        try:
            with socket.create_connection(target, timeout=30) as sock:
                sock.sendall(
                    b"POST /api/v1/auth/register/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                )
                sock.settimeout(0.5)
                while not stop.is_set():
                    sock.sendall(b" ")
                    with contextlib.suppress(TimeoutError):
                        answer = sock.recv(256)
                        answers.append(answer[:12])
                        break  # answered (408): the server let go of the connection
        except OSError:
            pass
        if not reconnect:
            return


def probe(target: tuple[str, int], stop: threading.Event) -> list[tuple[float, int]]:
    """(seconds, status) of GET /healthz, one after another on new connections, until `stop`."""
    results = []
    while not stop.is_set():
        started = time.monotonic()
        status = 0
        try:
            # Longer than any wait a test allows (straight to gunicorn: 18 s + 3), so a slow probe
            # is measured and judged by the test, not cut short and counted as unanswered.
            with socket.create_connection(target, timeout=30) as sock:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                status = int(sock.recv(64).split(b" ", 2)[1])
        except (OSError, ValueError, IndexError):
            pass
        results.append((time.monotonic() - started, status))
        time.sleep(0.1)
    return results


def attack(
    target: tuple[str, int], *, reconnect: bool, seconds: float = ATTACK_SECONDS
) -> tuple[list[tuple[float, int]], list[bytes]]:
    """Tricklers and a prober for `seconds`, or (without reconnecting) until every trickler is answered."""
    stop = threading.Event()
    answers: list[bytes] = []
    tricklers = [
        threading.Thread(target=trickle, args=(target, stop, answers), kwargs={"reconnect": reconnect})
        for _ in range(TRICKLERS)
    ]
    for thread in tricklers:
        thread.start()
    time.sleep(0.5)  # every trickler is connected and sending
    probes: list[tuple[float, int]] = []
    prober = threading.Thread(target=lambda: probes.extend(probe(target, stop)))
    prober.start()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and (reconnect or any(thread.is_alive() for thread in tricklers)):
        time.sleep(0.2)
    time.sleep(1)  # probes once the tricklers are gone
    stop.set()
    prober.join(timeout=30)
    for thread in tricklers:
        thread.join(timeout=30)
    return probes, answers


def report(name: str, probes: list[tuple[float, int]]) -> None:
    latencies = sorted(seconds for seconds, _ in probes)
    print(
        f"\n{name}: {len(probes)} probes, ok {sum(status == 200 for _, status in probes)}, "
        f"median {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
    )


@contextlib.contextmanager
def nginx_in_front(upstream: str, workdir: Path) -> Iterator[str]:
    """docker/nginx.conf with its upstream and port pointed here; yields nginx's base URL."""
    if not os.access(NGINX, os.X_OK):
        if CI:
            pytest.fail("CI=true: nginx is needed (apt-get install -y nginx-light)", pytrace=False)
        pytest.skip("nginx is not installed (apt-get install -y nginx-light)")
    port = free_port()
    config = (Path(settings.BASE_DIR) / "docker" / "nginx.conf").read_text()
    config = config.replace("server app:8000;", f"server {upstream.removeprefix('http://')};")
    config = config.replace("listen 8000;", f"listen 127.0.0.1:{port};")
    assert f"127.0.0.1:{port}" in config
    (workdir / "nginx.conf").write_text(config)
    with (workdir / "nginx-errors.log").open("wb") as errors:
        process = subprocess.Popen(
            [
                NGINX,
                "-p",
                str(workdir),
                "-c",
                str(workdir / "nginx.conf"),
                "-e",
                "stderr",
                "-g",
                f"daemon off; master_process off; pid {workdir / 'nginx.pid'};",
            ],
            stdout=subprocess.DEVNULL,
            stderr=errors,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, (workdir / "nginx-errors.log").read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            assert time.monotonic() < deadline, "nginx never listened"
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_slow_bodies_behind_nginx_leave_healthz_answering_at_once(tmp_path):
    with (
        gunicorn_server(tmp_path / "gunicorn.log", env=SERVER) as upstream,
        nginx_in_front(upstream, tmp_path) as base_url,
    ):
        probes, _ = attack(address(base_url), reconnect=True)

    report("behind nginx, 24 reconnecting tricklers", probes)
    assert len(probes) >= 10
    assert all(status == 200 for _, status in probes), probes
    assert max(seconds for seconds, _ in probes) < 1.0, probes


def test_slow_bodies_straight_to_gunicorn_hold_its_threads_no_longer_than_the_body_timeout(tmp_path):
    bound = math.ceil(TRICKLERS / THREADS) * BODY_TIMEOUT  # rounds of THREADS tricklers, each timed out
    with gunicorn_server(tmp_path / "gunicorn.log", env=SERVER) as base_url:
        probes, answers = attack(address(base_url), reconnect=False, seconds=bound + 15)

    report(f"gunicorn alone, {TRICKLERS} tricklers, REQUEST_BODY_TIMEOUT={BODY_TIMEOUT}", probes)
    assert len(answers) == TRICKLERS
    assert all(answer.startswith(b"HTTP/1.1 408") for answer in answers), answers
    assert all(status == 200 for _, status in probes), probes
    assert max(seconds for seconds, _ in probes) < bound + 3, probes
    assert probes[-1][0] < 1.0, probes  # once the slow clients are answered, at once again
