"""The benchmark orchestrator and its command line: the steps of a run, in order, over the modules beside it.

    python -m bench.run [--workers N] [--threads N] [--concurrency N] [--users N]
                        [--duration S] [--phases A,B,C,D,L,R] [--scale USERS] [--json PATH]
                        [--instances N] [--login-users N] [--against CHECKOUT]
                        [--profile PHASE] [--no-ceiling] [--keep-db]
    python -m bench.run --compare OLD.json NEW.json

See bench/README.md for what each phase measures and how to read the report.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import ROOT
from bench.cpu import CORES, CpuMeter, children_of, cpu_seconds
from bench.database import BenchDatabase, migrate_and_seed, verify_ledger
from bench.load import PHASES, run_load
from bench.profiling import Profiler, analyze_profile
from bench.report import compare, log, phase_totals, print_report, write_results, write_sql
from bench.server import Gunicorn, PgBouncer, app_environment, through_pgbouncer
from bench.stages import request_stages

RESULTS_DIR = ROOT / "bench-results"
SCALE_PHASES = ("A", "B")
CEILING_PHASES = ("A", "B", "C", "D")
LOYALTY_FOR_LOOPS = 100_000


# --- Arguments ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--workers",
        type=int,
        default=max(2, CORES),
        help="gunicorn workers (default: gunicorn.conf.py's, one per core = %(default)s)",
    )
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default: %(default)s)")
    parser.add_argument(
        "--concurrency", type=int, default=32, help="requests in flight (default: %(default)s)"
    )
    parser.add_argument("--users", type=int, default=2000, help="users per phase (default: %(default)s)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of phases B-D (default: 20)")
    parser.add_argument("--phases", default="A,B,C,D,L,R", help="phases to run (default: %(default)s)")
    parser.add_argument(
        "--instances",
        type=int,
        default=1,
        help="gunicorn instances on their own ports; above 1 they reach the database through "
        "PgBouncer in transaction mode (default: %(default)s)",
    )
    parser.add_argument(
        "--against",
        metavar="CHECKOUT",
        help="another checkout of the app (with its own venv: make install there) served side by "
        "side with this one on the same database, each getting every other request; the report "
        "adds each one's app CPU per request, measured under the same load at the same moments",
    )
    parser.add_argument(
        "--login-users", type=int, default=200, help="users the login phase logs in as (default: %(default)s)"
    )
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
        parser.error(f"--phases: choose from {','.join(PHASES)} (got {','.join(args.phases) or 'nothing'})")
    positive = ("workers", "threads", "concurrency", "users", "ceiling_duration", "instances", "login_users")
    for name in positive:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.ceiling_clients = args.ceiling_clients or args.concurrency
    if args.duration <= 0:
        parser.error("--duration must be positive")
    if args.against:
        args.against = Path(args.against).resolve()
        if args.instances > 1:
            parser.error("--against serves one instance of each checkout: leave --instances at 1")
        if (
            not (args.against / ".venv" / "bin" / "python").exists()
            or not (args.against / "gunicorn.conf.py").exists()
        ):
            parser.error(f"--against: {args.against} is not a checkout with a venv (run make install there)")
    if args.profile:
        args.profile = args.profile.upper()
        if args.profile not in args.phases:
            parser.error("--profile must name one of the phases being run")
    return args


# --- The run -----------------------------------------------------------------------------


class Bench:
    """One run: database, ceiling, users, gunicorn, load phases, verification, report."""

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
                "instances": args.instances,
                "against": str(args.against) if args.against else None,
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
        self.apps: list[Gunicorn] = []
        self.login_emails: list[str] = []

    def start_django(self) -> None:
        """Django on the bench environment (settings read it at import), and the profile's stages."""
        os.environ.update(self.env)
        import django

        django.setup()
        from django.utils import timezone

        self.today = timezone.now().date()
        # Before the database is touched, so a stage the app renamed fails the run in its first second.
        self.stages = request_stages()

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
        scripts = {name: ceiling.build_script(flow) for name, flow in self.flows.items()}
        write_sql(sql_path, self.results["sql"], self.results["round_trips"], scripts)
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
            "base_urls": [a.base_url for a in self.apps],
            "run_id": self.run_id,
            "emails": self.login_emails,
            "scenario": scenario,
            "concurrency": self.args.concurrency,
            "duration": duration,
            "tool": self.tool,
            "tokens": [u.token for u in tokens],
            "fresh_tokens": [u.token for u in fresh],
        }
        before = self.side_by_side_cpu()
        result = run_load(phase=phase, plan=plan, meter=meter, profiler=profiler)
        if before:
            after = self.side_by_side_cpu()
            result["side_by_side_cpu_s"] = {name: round(after[name] - before[name], 3) for name in before}
        if profiler and profiler.out_path.exists():
            result["profile"] = {
                "raw": str(profiler.out_path),
                **analyze_profile(profiler.out_path, self.stages),
            }
        return result

    def side_by_side_cpu(self) -> dict[str, float]:
        """With --against: CPU seconds so far of each checkout's gunicorn (master and workers)."""
        if not self.args.against:
            return {}
        return {
            name: sum(cpu_seconds(pid) or 0.0 for pid in (app.pid, *children_of(app.pid)))
            for name, app in zip(("this", "against"), self.apps, strict=True)
        }

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
            elif phase in {"L", "R"}:
                log(f"phase {name}: {title} for {args.duration:.0f} s ...")
                result = self.load(app, meter, name, scenario=scenario, tokens=[], duration=args.duration)
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

        from bench.overview import measure_overview

        log("the admin's engagement overview at scale (GET /admin/overview/ through gunicorn) ...")
        overview = measure_overview(app.base_url)
        log(
            f"  loads {overview['load_ms']} ms (median {overview['load_ms_median']} ms); charts computed in "
            f"{overview['charts_ms']} ms; {len(overview['queries'])} queries"
        )
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
        self.results["scale"] = {"seed": report.as_dict(), "p99_ratio": ratios, "overview": overview}

    def prepare_logins(self) -> None:
        """Users with a real password (one Argon2id hash, made with the production hasher, shared)."""
        from django.contrib.auth.hashers import make_password
        from django.db.models.functions import Lower

        from accounts.models import User
        from bench.load import BENCH_PASSWORD

        users = User.objects.filter(pk__in=[u.id for u in self.users(self.args.login_users, "login")])
        # Login reads the email as the API normalizes it: lower case (the run id has capitals).
        users.update(email=Lower("email"), password=make_password(BENCH_PASSWORD))
        self.login_emails = list(users.values_list("email", flat=True))
        self.release_connection()

    def start_servers(self, stack: contextlib.ExitStack) -> tuple[Gunicorn, CpuMeter]:
        """gunicorn --instances times, each on its own port; PgBouncer in front of the database if more."""
        args, env, bouncer = self.args, self.env, None
        if args.instances > 1:
            workdir = self.json_path.with_name(f"{self.json_path.stem}-pgbouncer")
            self.database.set_statement_timeout(env)
            bouncer = stack.enter_context(PgBouncer(self.database.conninfo, workdir))
            env = through_pgbouncer(env, bouncer)
            log(f"pgbouncer, transaction mode, port {bouncer.port}: {bouncer.pool_size} server connections")
        for number in range(1, args.instances + 1):
            suffix = "" if args.instances == 1 else f"-{number}"
            gunicorn_log = self.json_path.with_name(f"{self.json_path.stem}-gunicorn{suffix}.log")
            log(f"starting gunicorn: {args.workers} workers x {args.threads} threads ({gunicorn_log.name})")
            self.apps.append(stack.enter_context(Gunicorn(env, gunicorn_log)))
        if args.against:
            # Same environment and database (this checkout migrated it: the other must have the
            # same migrations), its own code and venv; the load generator alternates between them.
            gunicorn_log = self.json_path.with_name(f"{self.json_path.stem}-gunicorn-against.log")
            log(f"starting gunicorn of {args.against} beside it ({gunicorn_log.name})")
            python = str(args.against / ".venv" / "bin" / "python")
            other = Gunicorn(env, gunicorn_log, root=args.against, python=python)
            self.apps.append(stack.enter_context(other))
        meter = CpuMeter(
            app_pids=[a.pid for a in self.apps],
            admin_conninfo=self.database.admin_conninfo,
            dbname=self.database.dbname,
            pgbouncer_pid=bouncer.pid if bouncer else None,
        )
        return self.apps[0], meter

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
        self.start_django()
        with self.database:
            try:
                self.tool = migrate_and_seed()
                if not args.no_ceiling:
                    self.capture()
                    log(
                        f"ceiling: pgbench -c {args.ceiling_clients} -j 2 "
                        f"-T {args.ceiling_duration} per phase ..."
                    )
                    # Login and registration are bound by password hashing, not SQL: no ceiling for them.
                    self.ceiling([p for p in args.phases if p in CEILING_PHASES], "ceiling")
                log(f"preparing {args.users} users ...")
                checkin_users = self.users(args.users, "a") if "A" in args.phases else []
                warmup_users = self.users(args.concurrency, "warmup")

                def loop_users():
                    if self.loop_users is None:
                        self.loop_users = checkin_users or self.users(args.users, "loop")
                        self.grant(self.loop_users)
                    return self.loop_users

                if "L" in args.phases:
                    self.prepare_logins()
                with contextlib.ExitStack() as stack:
                    app, meter = self.start_servers(stack)
                    log("warming up: GET me/ for 3 s ...")
                    self.load(app, meter, "warmup", scenario="warmup", tokens=warmup_users, duration=3.0)
                    self.run_phases(app, meter, suffix="", checkin_users=checkin_users, loop_users=loop_users)
                    if args.scale:
                        self.scale(app, meter)
                self.results["gunicorn_errors"] = [line for a in self.apps for line in a.errors()]
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
        write_results(self.json_path, results)
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
