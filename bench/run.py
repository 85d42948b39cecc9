"""The benchmark orchestrator: database, ceiling, gunicorn, users, load phases, verification, report.

    python -m bench.run [--workers N] [--threads N] [--concurrency N] [--users N]
                        [--duration S] [--phases A,B,C,D] [--scale USERS] [--json PATH]
                        [--profile PHASE] [--no-ceiling] [--keep-db]
    python -m bench.run --compare OLD.json NEW.json

See bench/README.md for what each phase measures and how to read the report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sys
import uuid
import warnings
from datetime import UTC, datetime
from pathlib import Path

from bench import ROOT
from bench.cpu import CORES, CPU_GROUPS, CpuMeter
from bench.database import BenchDatabase, migrate_and_seed, verify_ledger
from bench.load import PHASES, run_load
from bench.profiling import Profiler, analyze_profile
from bench.server import Gunicorn, app_environment

RESULTS_DIR = ROOT / "bench-results"
SCALE_PHASES = ("A", "B")
LOYALTY_FOR_LOOPS = 100_000


def log(message: str = "") -> None:
    print(message, flush=True)


# --- Arguments ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workers", type=int, default=CORES + 1, help="gunicorn workers (default: cores + 1 = %(default)s)"
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight (default: %(default)s)"
    )
    parser.add_argument("--users", type=int, default=2000, help="users per phase (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of phases B-D (default: 20)")
    parser.add_argument("--phases", default="A,B,C,D", help="phases to run (default: %(default)s)")
    parser.add_argument(
        "--scale",
        type=int,
        default=0,
        metavar="USERS",
        help="after the phases, seed USERS users with history by COPY and rerun phases A and B",
    )
    parser.add_argument(
        "--scale-checkins", type=int, default=10, help="check-ins per seeded user (default: %(default)s)"
    )
    parser.add_argument(
        "--ceiling-duration", type=int, default=10, help="seconds per pgbench run (default: %(default)s)"
    )
    parser.add_argument(
        "--ceiling-clients", type=int, help="pgbench clients (default: the same as --concurrency)"
    )
    parser.add_argument("--no-ceiling", action="store_true", help="skip the pgbench ceiling")
    parser.add_argument("--profile", metavar="PHASE", help="record the gunicorn workers with py-spy in PHASE")
    parser.add_argument(
        "--json", metavar="PATH", help="results file (default: bench-results/<timestamp>.json)"
    )
    parser.add_argument("--keep-db", action="store_true", help="keep the database the run created")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"), help="compare two results files")
    args = parser.parse_args(argv)
    if args.compare:
        return args
    args.phases = [p.strip().upper() for p in args.phases.split(",") if p.strip()]
    unknown = set(args.phases) - set(PHASES)
    if unknown or not args.phases:
        parser.error(f"--phases: choose from A,B,C,D (got {','.join(args.phases) or 'nothing'})")
    for name in ("workers", "threads", "concurrency", "users", "ceiling_duration"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.ceiling_clients = args.ceiling_clients or args.concurrency
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if args.profile:
        args.profile = args.profile.upper()
        if args.profile not in args.phases:
            parser.error("--profile must name one of the phases being run")
    return args


def phase_totals(result: dict) -> dict:
    endpoints = result["endpoints"].values()
    requests = sum(e["requests"] for e in endpoints)
    return {
        "requests": requests,
        "rps": requests / result["elapsed_s"] if result["elapsed_s"] else 0.0,
        "errors": sum(e["requests"] - e["ok"] for e in endpoints),
        "server_errors": sum(
            n for e in endpoints for status, n in e["statuses"].items() if status.startswith(("5", "exc"))
        ),
    }


# --- Report ------------------------------------------------------------------------------


def format_phase(name: str, result: dict, ceiling: dict | None) -> list[str]:
    totals = phase_totals(result)
    lines = [
        f"Phase {name}: {PHASES[name[0]][1]}: {totals['requests']} requests in {result['elapsed_s']:.1f} s "
        f"= {totals['rps']:.0f} req/s; non-2xx {totals['errors']}, 5xx {totals['server_errors']}",
        f"  {'endpoint':28} {'requests':>8} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7}  statuses",
    ]
    for label, e in result["endpoints"].items():
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(e["statuses"].items()))
        lines.append(
            f"  {label:28} {e['requests']:>8} {e['rps']:>7.0f} {e['p50_ms']:>7.1f} {e['p95_ms']:>7.1f} "
            f"{e['p99_ms']:>7.1f}  {statuses}"
        )
        lines.extend(f"      e.g. {sample}" for sample in e.get("error_samples", []))
    if result.get("fresh_users_exhausted"):
        lines.append("  note: the fresh users for check-ins ran out; later iterations skipped the check-in")
    cpu = result.get("cpu")
    if cpu:
        lines.append(
            f"  CPU, cores busy over {cpu['elapsed_s']:.1f} s "
            f"(machine: {cpu['machine_busy']['cores']:.2f} of {CORES}):"
        )
        for key, label in CPU_GROUPS.items():
            lines.append(f"    {label:62} {cpu[key]['cores']:5.2f}")
        if totals["requests"]:
            per = {key: 1000 * cpu[key]["cpu_s"] / totals["requests"] for key in ("app", "postgres_bench")}
            lines.append(
                f"  CPU per request: app {per['app']:.2f} ms, postgres {per['postgres_bench']:.2f} ms"
            )
    if ceiling and ceiling.get("requests_per_s"):
        fraction = totals["rps"] / ceiling["requests_per_s"]
        lines.append(
            f"  ceiling, pgbench on the same SQL: {ceiling['requests_per_s']:.0f} req/s "
            f"({ceiling['tps']:.0f} transactions/s); we reach {fraction:.1%} of it"
        )
    if ceiling and ceiling.get("error"):
        lines.append(
            f"  ceiling: pgbench reported an error, its number is not to be trusted: {ceiling['error']}"
        )
    profile = result.get("profile")
    if profile:
        lines.append(f"  profile (py-spy --gil, {profile['samples']} samples; raw stacks: {profile['raw']}):")
        lines.append("    by layer (innermost frame):")
        lines.extend(f"      {p['percent']:5.1f}%  {p['name']}" for p in profile["layers"])
        lines.append("    by request stage (on the stack):")
        lines.extend(f"      {p['percent']:5.1f}%  {p['name']}" for p in profile["stages"])
        lines.append("    top functions (own time):")
        lines.extend(f"      {p['percent']:5.1f}%  {p['name']}" for p in profile["own"][:12])
    return lines


def print_report(results: dict) -> None:
    config = results["config"]
    log()
    log("=" * 100)
    log(
        f"{results['run_id']}: {config['workers']} workers x {config['threads']} threads, "
        f"concurrency {config['concurrency']}, {config['users']} users, {config['cores']} cores, "
        f"cache {config['cache']}, pool {config['pool']}"
    )
    if results.get("round_trips"):
        log(
            f"round trips per flow (statements + BEGIN/COMMIT): {results['round_trips']}; "
            f"SQL: {results['sql_path']}"
        )
    for name, result in results["phases"].items():
        ceilings = results.get("ceiling_scale" if name.endswith("@scale") else "ceiling") or {}
        log()
        for line in format_phase(name, result, ceilings.get("phases", {}).get(name[0])):
            log(line)
    scale = results.get("scale")
    if scale:
        log()
        log(f"Scale seed: {scale['seed']}")
        for phase, ratios in scale["p99_ratio"].items():
            for label, r in ratios.items():
                log(
                    f"  p99 {phase} {label}: {r['base_ms']:.1f} ms empty -> "
                    f"{r['scaled_ms']:.1f} ms at scale (x{r['ratio']:.2f})"
                )
    log()
    verify = results.get("verify_ledger", {})
    log(f"verify_ledger: exit {verify.get('exit_code')}: {' '.join(verify.get('output', '').split())[:300]}")
    log(f"5xx responses (or connection errors): {results['server_errors']}")
    for line in results.get("gunicorn_errors", [])[:10]:
        log(f"  gunicorn log: {line}")
    log(f"results: {results['json_path']}")


def compare(old_path: str, new_path: str) -> int:
    old = json.loads(Path(old_path).read_text(encoding="utf-8"))
    new = json.loads(Path(new_path).read_text(encoding="utf-8"))

    def change(a: float, b: float) -> str:
        return f"{(b - a) / a:+.1%}" if a else "n/a"

    def config(r: dict) -> str:
        c = r["config"]
        return f"{c['workers']}x{c['threads']}, concurrency {c['concurrency']}, {c['users']} users"

    log(f"old: {old_path} ({old['run_id']}; {config(old)})")
    log(f"new: {new_path} ({new['run_id']}; {config(new)})")
    log(
        f"{'phase / endpoint':40} {'req/s old':>9} {'new':>7} {'change':>8}   "
        f"{'p99 old':>8} {'new':>8} {'change':>8}"
    )
    for phase, n in new["phases"].items():
        o = old["phases"].get(phase)
        if not o:
            continue
        ot, nt = phase_totals(o), phase_totals(n)
        log(
            f"{phase + ' (all endpoints)':40} {ot['rps']:>9.0f} {nt['rps']:>7.0f} "
            f"{change(ot['rps'], nt['rps']):>8}"
        )
        for label, e in n["endpoints"].items():
            b = o["endpoints"].get(label)
            if b:
                log(
                    f"  {label:38} {b['rps']:>9.0f} {e['rps']:>7.0f} {change(b['rps'], e['rps']):>8}   "
                    f"{b['p99_ms']:>8.1f} {e['p99_ms']:>8.1f} {change(b['p99_ms'], e['p99_ms']):>8}"
                )
        if o.get("cpu") and n.get("cpu") and ot["requests"] and nt["requests"]:
            a = 1000 * o["cpu"]["app"]["cpu_s"] / ot["requests"]
            b = 1000 * n["cpu"]["app"]["cpu_s"] / nt["requests"]
            log(f"  {'app CPU ms per request':38} {a:>9.2f} {b:>7.2f} {change(a, b):>8}")
    for key in ("ceiling", "ceiling_scale"):
        for phase, c in (new.get(key) or {}).get("phases", {}).items():
            oc = (old.get(key) or {}).get("phases", {}).get(phase)
            if oc:
                log(f"{key} {phase}: {oc['requests_per_s']:.0f} -> {c['requests_per_s']:.0f} req/s")
    for name, label in (("old", old), ("new", new)):
        log(
            f"verify_ledger {name}: exit {label.get('verify_ledger', {}).get('exit_code')}; "
            f"5xx {label.get('server_errors')}"
        )
    return 0


# --- The run -----------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        started = datetime.now(UTC)
        stamp = started.strftime("%Y%m%dT%H%M%SZ")
        self.run_id = f"bench-{stamp}-{uuid.uuid4().hex[:4]}"
        RESULTS_DIR.mkdir(exist_ok=True)
        self.json_path = Path(args.json) if args.json else RESULTS_DIR / f"{stamp}.json"
        self.database = BenchDatabase(os.environ.get("DATABASE_URL"), keep=args.keep_db)
        self.env = app_environment(self.database.url, workers=args.workers, threads=args.threads)
        self.results: dict = {
            "run_id": self.run_id,
            "started_at": started.isoformat(),
            "config": {
                "workers": args.workers,
                "threads": args.threads,
                "concurrency": args.concurrency,
                "users": args.users,
                "duration_s": args.duration,
                "phases": args.phases,
                "scale": args.scale,
                "cores": CORES,
                "cache": "redis" if os.environ.get("REDIS_URL") else "local memory",
                "database": self.database.dbname,
                "pool": "{}-{} per worker".format(
                    self.env["DATABASE_POOL_MIN_SIZE"], self.env["DATABASE_POOL_MAX_SIZE"]
                ),
                "ceiling_duration_s": None if args.no_ceiling else args.ceiling_duration,
                "ceiling_clients": None if args.no_ceiling else args.ceiling_clients,
            },
            "phases": {},
        }
        self.loop_users = None

    # Django is set up only once the bench database and its environment exist.
    def setup_django(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()
        from django.utils import timezone

        warnings.filterwarnings("ignore", message="No directory at", category=UserWarning)  # whitenoise
        self.tool = migrate_and_seed()
        self.today = timezone.now().date()

    def release_connection(self) -> None:
        from django.db import connection

        connection.close()

    def ceiling(self, phases: list[str], key: str, run_suffix: str = "") -> None:
        from bench import ceiling

        self.results[key] = ceiling.run_ceiling(
            self.flows,
            phases=phases,
            conninfo=self.database.conninfo,
            clients=self.args.ceiling_clients,
            users=self.args.users,
            seconds=self.args.ceiling_duration,
            run_id=self.run_id + run_suffix,
            log=log,
        )
        self.release_connection()

    def capture(self) -> None:
        from bench import ceiling

        log("capturing the SQL of one check-in, one buy + use and one GET me/ (Django test client) ...")
        self.flows = ceiling.capture_flows(tool=self.tool, run_id=self.run_id)
        self.results["sql"] = {name: ceiling.describe_flow(f) for name, f in self.flows.items()}
        self.results["round_trips"] = {name: ceiling.round_trips(f) for name, f in self.flows.items()}
        sql_path = self.json_path.with_name(self.json_path.stem + "-sql.txt")
        with open(sql_path, "w", encoding="utf-8") as fh:
            for name, lines in self.results["sql"].items():
                fh.write(f"==== {name}: {self.results['round_trips'][name]} round trips\n")
                fh.write("\n".join(lines) + "\n\n")
            for name, flow in self.flows.items():
                fh.write(f"==== pgbench script for {name}\n{ceiling.build_script(flow)}\n")
        self.results["sql_path"] = str(sql_path)
        log(f"  round trips: {self.results['round_trips']} (statements in {sql_path.name})")

    def users(self, count: int, label: str) -> list:
        from bench.seed import create_users

        users = create_users(count, label=label, run_id=self.run_id)
        self.release_connection()
        return users

    def grant(self, users: list) -> None:
        from bench.seed import grant_loyalty

        log(f"  granting {LOYALTY_FOR_LOOPS} loyalty to {len(users)} users through adjust_state ...")
        grant_loyalty([u.id for u in users], LOYALTY_FOR_LOOPS)
        self.release_connection()

    def load(
        self, app: Gunicorn, meter: CpuMeter, phase: str, *, scenario: str, tokens, fresh=(), duration=None
    ):
        profiler = None
        if self.args.profile and phase == self.args.profile:
            profiler = Profiler(
                app.pid, self.json_path.with_name(f"{self.json_path.stem}-profile-{phase}.txt")
            )
        plan = {
            "base_url": app.base_url,
            "scenario": scenario,
            "concurrency": self.args.concurrency,
            "duration": duration,
            "tool": self.tool,
            "tokens": [u.token for u in tokens],
            "fresh_tokens": [u.token for u in fresh],
        }
        result = run_load(phase=phase, plan=plan, meter=meter, profiler=profiler)
        if profiler and profiler.out_path.exists():
            result["profile"] = {"raw": str(profiler.out_path), **analyze_profile(profiler.out_path)}
        return result

    def run_phases(self, app: Gunicorn, meter: CpuMeter, *, suffix: str, checkin_users, loop_users) -> None:
        """Run the selected phases; `loop_users()` gives users with loyalty (prepared on first use)."""
        args = self.args
        for phase in args.phases:
            if suffix and phase not in SCALE_PHASES:
                continue
            name = phase + suffix
            scenario, title = PHASES[phase]
            if phase == "A":
                log(f"phase {name}: {title}, {len(checkin_users)} users ...")
                result = self.load(app, meter, name, scenario=scenario, tokens=[], fresh=checkin_users)
            else:
                users = loop_users()
                fresh = []
                if phase == "D":
                    a = self.results["phases"].get("A" + suffix)
                    rate = len(checkin_users) / a["elapsed_s"] if a else 500.0
                    count = int(rate * args.duration) + args.concurrency
                    log(f"  preparing {count} fresh users for the mixed phase's check-ins ...")
                    fresh = self.users(count, "d")
                log(f"phase {name}: {title} for {args.duration:.0f} s ...")
                result = self.load(
                    app, meter, name, scenario=scenario, tokens=users, fresh=fresh, duration=args.duration
                )
            self.results["phases"][name] = result
            totals = phase_totals(result)
            log(f"  {totals['requests']} requests, {totals['rps']:.0f} req/s, non-2xx {totals['errors']}")

    def scale(self, app: Gunicorn, meter: CpuMeter) -> None:
        from bench.seed import BenchUser, grant_loyalty, mint_token, seed_scale

        args = self.args
        log(f"seeding {args.scale} users x {args.scale_checkins} check-ins (templates + COPY) ...")
        report = seed_scale(
            users=args.scale,
            checkins_per_user=args.scale_checkins,
            run_id=self.run_id,
            today=self.today,
            log=log,
        )
        self.release_connection()
        log(f"  seeded in {report.seconds:.1f} s: {report.as_dict()}")
        step = max(1, len(report.user_ids) // args.users)
        chosen = [BenchUser(id=u, token=mint_token(u)) for u in report.user_ids[::step][: args.users]]
        granted: list = []

        def loop_users():
            if not granted:
                log(
                    f"  granting {LOYALTY_FOR_LOOPS} loyalty to {len(chosen)} seeded users "
                    "through adjust_state ..."
                )
                grant_loyalty([u.id for u in chosen], LOYALTY_FOR_LOOPS)
                self.release_connection()
                granted.extend(chosen)
            return granted

        if not args.no_ceiling:
            log("ceiling at scale ...")
            self.ceiling([p for p in args.phases if p in SCALE_PHASES], "ceiling_scale", "-scale")
        self.run_phases(app, meter, suffix="@scale", checkin_users=chosen, loop_users=loop_users)
        ratios = {}
        for phase in SCALE_PHASES:
            base, scaled = self.results["phases"].get(phase), self.results["phases"].get(phase + "@scale")
            if base and scaled:
                ratios[phase] = {
                    label: {
                        "base_ms": e["p99_ms"],
                        "scaled_ms": scaled["endpoints"][label]["p99_ms"],
                        "ratio": scaled["endpoints"][label]["p99_ms"] / e["p99_ms"] if e["p99_ms"] else 0.0,
                    }
                    for label, e in base["endpoints"].items()
                    if label in scaled["endpoints"]
                }
        self.results["scale"] = {"seed": report.as_dict(), "p99_ratio": ratios}

    def verify(self) -> None:
        log("verify_ledger ...")
        self.results["verify_ledger"] = verify_ledger({**os.environ, **self.env})

    def run(self) -> int:
        args = self.args
        where = "created for this run" if self.database.owned else "from DATABASE_URL"
        log(f"{self.run_id}: database {self.database.dbname} ({where})")
        if not args.no_ceiling and shutil.which("pgbench") is None:
            log("pgbench not found (it ships with the PostgreSQL server packages): no ceiling this run")
            args.no_ceiling = True
            self.results["config"]["ceiling_duration_s"] = None
        with self.database:
            try:
                self.setup_django()
                if not args.no_ceiling:
                    self.capture()
                    log(
                        f"ceiling: pgbench -c {args.ceiling_clients} -j 2 "
                        f"-T {args.ceiling_duration} per phase ..."
                    )
                    self.ceiling(args.phases, "ceiling")
                log(f"preparing {args.users} users ...")
                checkin_users = self.users(args.users, "a") if "A" in args.phases else []
                warmup_users = self.users(args.concurrency, "warmup")

                def loop_users():
                    if self.loop_users is None:
                        self.loop_users = checkin_users or self.users(args.users, "loop")
                        self.grant(self.loop_users)
                    return self.loop_users

                gunicorn_log = self.json_path.with_name(f"{self.json_path.stem}-gunicorn.log")
                log(
                    f"starting gunicorn: {args.workers} workers x {args.threads} threads "
                    f"({gunicorn_log.name})"
                )
                with Gunicorn(self.env, gunicorn_log) as app:
                    meter = CpuMeter(
                        app_pid=app.pid,
                        admin_conninfo=self.database.admin_conninfo,
                        dbname=self.database.dbname,
                    )
                    log("warming up: GET me/ for 3 s ...")
                    self.load(app, meter, "warmup", scenario="warmup", tokens=warmup_users, duration=3.0)
                    self.run_phases(app, meter, suffix="", checkin_users=checkin_users, loop_users=loop_users)
                    if args.scale:
                        self.scale(app, meter)
                self.results["gunicorn_errors"] = app.errors()
                self.verify()
            finally:
                with contextlib.suppress(Exception):
                    from django.db import connection

                    connection.close()
                    connection.close_pool()
        return self.finish()

    def finish(self) -> int:
        results = self.results
        results["server_errors"] = sum(phase_totals(r)["server_errors"] for r in results["phases"].values())
        results["finished_at"] = datetime.now(UTC).isoformat()
        results["json_path"] = str(self.json_path)
        self.json_path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
        print_report(results)
        return 0 if results["verify_ledger"]["exit_code"] == 0 and results["server_errors"] == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compare:
        return compare(*args.compare)

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        return Bench(args).run()
    except KeyboardInterrupt:
        log("bench: interrupted; gunicorn stopped, bench database cleaned up")
        return 130


if __name__ == "__main__":
    sys.exit(main())
