"""What the Prometheus instrumentation costs per request, measured in CPU time, outside any server.

    python -m bench.metrics_cost [--iterations N]

Times, per call, in a fresh process each (prometheus_client chooses its storage on import):
- the request middleware's own work (route label, one histogram observation, the throttled
  pool sampling) with the values in memory (one process) and in prometheus_client's
  multiprocess files, as under gunicorn;
- the domain counters of a check-in committed with an auto-claim (2 events, 4 increments).
Compare with the app CPU per request that `make bench` reports (a few ms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

from bench import ROOT

_CHILD = r"""
import json, os, sys, time
from types import SimpleNamespace
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "engagement.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")
import django
django.setup()
from engagement import metrics

n = int(sys.argv[1])
request = SimpleNamespace(method="POST", resolver_match=SimpleNamespace(route="api/v1/checkins/"))
response = SimpleNamespace(status_code=201)
middleware = metrics.RequestMetricsMiddleware(lambda request: response)
events = [SimpleNamespace(kind="check_in", reference="1", inventory_count_delta=0),
          SimpleNamespace(kind="reward_claim", reference="streak_7", inventory_count_delta=0)]

def cpu_us(work):
    for _ in range(min(n, 1000)):
        work()
    started = time.process_time()
    for _ in range(n):
        work()
    return (time.process_time() - started) / n * 1e6

print(json.dumps({
    "middleware_us": round(cpu_us(lambda: middleware(request)), 2),
    "domain_counters_us": round(cpu_us(lambda: metrics._increment(metrics.change_increments(events))), 2),
}))
"""


def run(iterations: int, multiprocess_dir: str | None) -> dict:
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    if multiprocess_dir:
        env["PROMETHEUS_MULTIPROC_DIR"] = multiprocess_dir
    out = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _CHILD, str(iterations)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.metrics_cost", description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=50_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="engagement-metrics-cost-") as directory:
        for label, path in (("one process", None), ("multiprocess files (gunicorn)", directory)):
            result = run(args.iterations, path)
            print(
                f"{label:32} request middleware {result['middleware_us']:6.2f} us CPU per request; "
                f"check-in counters {result['domain_counters_us']:6.2f} us per committed change"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
