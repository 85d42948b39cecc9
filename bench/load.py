"""Load generation: the phases, the asyncio HTTP client (aiohttp) that plays one, run_load() to drive it.

The client replays one phase's plan at a fixed concurrency. run_load() starts it as its own
process, so its CPU time can be told apart from the app's:

    python -m bench.load PLAN.json RESULT.json

It loads the plan (base URL, users with their access tokens, scenario, concurrency,
duration), opens its connections, prints READY and waits for a line on stdin; then it
runs the phase, prints DONE the moment the last request has finished, and writes the
per-endpoint results. Only the time between the go line and DONE is measured.

Scenarios (every request carries `Authorization: Bearer <access>`):

- checkin:  each user checks in once (POST checkins/); the phase ends when all have.
- buy_use:  POST tools/<tool>/buy/ then POST inventory/<tool>/use/, in a loop.
- me:       GET me/, in a loop.
- mixed:    MIXED_ITERATION in a loop: a check-in by a fresh user and GET me/ as that user,
            then buy, use and GET me/ as a user with loyalty.
- login:    POST auth/token/ with email and password (Argon2id), in a loop over the login users.
- register: POST auth/register/ with a new email each time, in a loop.
- warmup:   GET me/ for a few seconds, not reported.

With several base URLs (bench --instances N) the client spreads its requests over them in turn,
as a round-robin load balancer would.

In the loops each concurrent task owns its own slice of the users (user i goes to task
i % concurrency); check-ins take the next unused user from a shared queue. Either way two
tasks never work on the same user at once: the numbers measure throughput, not waits
for one user's row lock.

aiohttp rather than httpx: against the same server httpx spent about 3.7 ms of CPU per
request and aiohttp about 0.2 ms, and on two cores the client's CPU is taken from the
app it measures.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

from bench import ROOT
from bench.processes import stop_process_group

if TYPE_CHECKING:
    from bench.cpu import CpuMeter
    from bench.profiling import Profiler

API = "/api/v1/"
# The phases of a run: the scenario each plays and its title in the report.
PHASES = {
    "A": ("checkin", "one check-in per user"),
    "B": ("buy_use", "buy + use loop"),
    "C": ("me", "GET me/ loop"),
    "D": ("mixed", "mixed loop (check-in, me, buy, use, me)"),
    "L": ("login", "login loop (Argon2id)"),
    "R": ("register", "registration loop (Argon2id), a new email each"),
}
# The password of the login phase's users and of every registration.
BENCH_PASSWORD = "bench-orbit-castle-71"

# One iteration of the mixed scenario: (endpoint, which user). Its request counts are what
# bench.ceiling weighs its pgbench scripts by.
MIXED_ITERATION = [
    ("checkin", "fresh"),
    ("me", "fresh"),
    ("buy", "loyal"),
    ("use", "loyal"),
    ("me", "loyal"),
]


def endpoint_label(endpoint: str) -> str:
    return {
        "checkin": "POST checkins/",
        "buy": "POST tools/{slug}/buy/",
        "use": "POST inventory/{slug}/use/",
        "me": "GET me/",
        "login": "POST auth/token/",
        "register": "POST auth/register/",
    }[endpoint]


@dataclass
class Recorder:
    """Latencies (seconds) and status counts per endpoint."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    samples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, endpoint: str, seconds: float, status: str, body: bytes | None = None) -> None:
        self.latencies[endpoint].append(seconds)
        self.statuses[endpoint][status] += 1
        if body is not None and not status.startswith("2") and len(self.samples[endpoint]) < 3:
            self.samples[endpoint].append(f"{status}: {body[:300].decode('utf-8', 'replace')}")


class Client:
    def __init__(self, base_urls: list[str], concurrency: int, tool: str):
        self.sessions = [
            aiohttp.ClientSession(
                base_url=base_url,
                connector=aiohttp.TCPConnector(limit=concurrency, force_close=False),
                timeout=aiohttp.ClientTimeout(total=30.0),
                headers={"Content-Type": "application/json"},
            )
            for base_url in base_urls
        ]
        self.turn = itertools.count()
        self.tool = tool
        self.recorder = Recorder()

    def request_args(self, endpoint: str, who: str) -> tuple[str, str, bytes | None]:
        if endpoint == "checkin":
            return "POST", f"{API}checkins/", None
        if endpoint == "buy":
            return "POST", f"{API}tools/{self.tool}/buy/", b'{"quantity": 1}'
        if endpoint == "use":
            return "POST", f"{API}inventory/{self.tool}/use/", None
        if endpoint in {"login", "register"}:
            path = "auth/token/" if endpoint == "login" else "auth/register/"
            return "POST", f"{API}{path}", json.dumps({"email": who, "password": BENCH_PASSWORD}).encode()
        return "GET", f"{API}me/", None

    async def call(self, endpoint: str, who: str) -> None:
        """One request; `who` is the access token, or the email for login and register."""
        method, url, body = self.request_args(endpoint, who)
        headers = {} if endpoint in {"login", "register"} else {"Authorization": f"Bearer {who}"}
        session = self.sessions[next(self.turn) % len(self.sessions)]
        started = time.perf_counter()
        try:
            async with session.request(method, url, data=body, headers=headers) as response:
                content = await response.read()
                status = str(response.status)
        except (aiohttp.ClientError, TimeoutError) as exc:
            content, status = str(exc).encode(), f"exc:{type(exc).__name__}"
        self.recorder.add(endpoint, time.perf_counter() - started, status, content)

    async def open_connections(self, count: int) -> None:
        """Open the keep-alive connections before the clock starts, as a long-running client has them."""

        async def probe(session):
            async with session.get("/healthz") as response:
                await response.read()

        await asyncio.gather(*(probe(session) for session in self.sessions for _ in range(count)))

    async def close(self) -> None:
        for session in self.sessions:
            await session.close()


async def run_checkin(client: Client, tokens: list[str], concurrency: int, deadline: float) -> None:
    """Every user checks in once; each task takes the next user from a shared queue."""
    queue = iter(tokens)

    async def task() -> None:
        for token in queue:
            if time.perf_counter() > deadline:
                return
            await client.call("checkin", token)

    await asyncio.gather(*(task() for _ in range(concurrency)))


async def run_loop(client: Client, tokens: list[str], concurrency: int, deadline: float, steps) -> None:
    async def task(mine: list[str]) -> None:
        if not mine:
            return
        i = 0
        while time.perf_counter() < deadline:
            token = mine[i % len(mine)]
            for endpoint in steps:
                await client.call(endpoint, token)
            i += 1

    await asyncio.gather(*(task(tokens[i::concurrency]) for i in range(concurrency)))


async def run_mixed(
    client: Client, loyal: list[str], fresh: list[str], concurrency: int, deadline: float
) -> dict:
    """MIXED_ITERATION in a loop; each check-in takes the next unused fresh user from a shared pool."""
    pool = iter(fresh)
    exhausted = {"fresh_users_exhausted": False}

    async def task(mine_loyal: list[str]) -> None:
        i = 0
        while time.perf_counter() < deadline and mine_loyal:
            users = {"loyal": mine_loyal[i % len(mine_loyal)], "fresh": next(pool, None)}
            if users["fresh"] is None:
                exhausted["fresh_users_exhausted"] = True
            for endpoint, who in MIXED_ITERATION:
                if users[who] is not None:
                    await client.call(endpoint, users[who])
            i += 1

    await asyncio.gather(*(task(loyal[i::concurrency]) for i in range(concurrency)))
    return exhausted


async def run_register(client: Client, concurrency: int, deadline: float, prefix: str) -> None:
    """Registrations with new emails until the deadline."""
    numbers = itertools.count()

    async def task() -> None:
        while time.perf_counter() < deadline:
            await client.call("register", f"{prefix}-{next(numbers)}@bench.example.com")

    await asyncio.gather(*(task() for _ in range(concurrency)))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(fraction * len(sorted_values))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def summarize(recorder: Recorder, elapsed: float) -> dict:
    endpoints = {}
    for endpoint, values in recorder.latencies.items():
        ordered = sorted(values)
        statuses = dict(recorder.statuses[endpoint])
        ok = sum(n for status, n in statuses.items() if status.startswith("2"))
        endpoints[endpoint_label(endpoint)] = {
            "requests": len(values),
            "ok": ok,
            "rps": len(values) / elapsed if elapsed else 0.0,
            "p50_ms": percentile(ordered, 0.50) * 1000,
            "p95_ms": percentile(ordered, 0.95) * 1000,
            "p99_ms": percentile(ordered, 0.99) * 1000,
            "max_ms": ordered[-1] * 1000 if ordered else 0.0,
            "statuses": statuses,
            "error_samples": recorder.samples.get(endpoint, []),
        }
    return endpoints


async def main_async(plan: dict) -> dict:
    concurrency = plan["concurrency"]
    client = Client(plan["base_urls"], concurrency, plan.get("tool", "coffee"))
    scenario = plan["scenario"]
    loyal = plan.get("tokens", [])
    fresh = plan.get("fresh_tokens", [])
    await client.open_connections(concurrency)

    print("READY", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

    duration = plan.get("duration") or 3600.0
    started = time.perf_counter()
    deadline = started + duration
    extra: dict = {}
    if scenario == "checkin":
        await run_checkin(client, fresh, concurrency, deadline)
    elif scenario == "buy_use":
        await run_loop(client, loyal, concurrency, deadline, ("buy", "use"))
    elif scenario in {"me", "warmup"}:
        await run_loop(client, loyal, concurrency, deadline, ("me",))
    elif scenario == "mixed":
        extra = await run_mixed(client, loyal, fresh, concurrency, deadline)
    elif scenario == "login":
        await run_loop(client, plan["emails"], concurrency, deadline, ("login",))
    elif scenario == "register":
        await run_register(client, concurrency, deadline, plan["run_id"])
    else:
        raise SystemExit(f"unknown scenario {scenario!r}")
    elapsed = time.perf_counter() - started
    print("DONE", flush=True)
    await client.close()
    return {
        "scenario": scenario,
        "elapsed_s": elapsed,
        "endpoints": summarize(client.recorder, elapsed),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m bench.load PLAN.json RESULT.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as fh:
        plan = json.load(fh)
    result = asyncio.run(main_async(plan))
    with open(argv[1], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


def run_load(
    *,
    phase: str,
    plan: dict,
    meter: CpuMeter,
    profiler: Profiler | None = None,
) -> dict:
    """One phase in a separate load-generator process; CPU measured between its go and its DONE."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        plan_path, out_path = Path(tmp, "plan.json"), Path(tmp, "result.json")
        plan_path.write_text(json.dumps(plan), encoding="utf-8")
        proc = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "bench.load", str(plan_path), str(out_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            said = proc.stdout.readline().strip()
            if said != "READY":
                raise RuntimeError(f"the load generator did not start (it said {said!r})")
            if profiler:
                profiler.start()
            before = meter.snapshot(proc.pid)
            proc.stdin.write("go\n")
            proc.stdin.flush()
            said = proc.stdout.readline().strip()
            after = meter.snapshot(proc.pid)
            if profiler:
                profiler.stop()
            if said != "DONE":
                raise RuntimeError(f"the load generator failed in phase {phase} (it said {said!r})")
            cpu = meter.split(before, after, proc.pid)
            if proc.wait(60) != 0:
                raise RuntimeError(f"the load generator exited with {proc.returncode}")
            result = json.loads(out_path.read_text(encoding="utf-8"))
        finally:
            stop_process_group(proc)
    result["cpu"] = cpu
    return result


if __name__ == "__main__":
    sys.exit(main())
