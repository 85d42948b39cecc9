"""The report: the printed summary, the results files (JSON, SQL) and --compare of two results."""

from __future__ import annotations

import json
from pathlib import Path

from bench.cpu import CORES, CPU_GROUPS
from bench.load import PHASES


def log(message: str = "") -> None:
    print(message, flush=True)


# SPEC section 16: app CPU per request (ms) by endpoint, p99 <= 3 x p50, login and register rates.
CPU_TARGET_MS = {
    "POST checkins/": 2.0,
    "POST tools/{slug}/buy/": 2.5,
    "POST inventory/{slug}/use/": 2.5,
    "GET me/": 1.2,
}
P99_OVER_P50_MAX = 3.0
HASHING_MIN_RPS = 40.0


def cpu_target_ms(result: dict) -> float | None:
    """The phase's app CPU target: its endpoints' targets weighed by their request counts."""
    endpoints = result["endpoints"]
    counted = {label: e["requests"] for label, e in endpoints.items() if label in CPU_TARGET_MS}
    total = sum(counted.values())
    if not total or len(counted) != len(endpoints):
        return None
    return sum(CPU_TARGET_MS[label] * n for label, n in counted.items()) / total


def spec_rows(results: dict) -> list[dict]:
    """Per phase: app CPU per request against SPEC 16, the worst p99/p50, 5xx, req/s."""
    rows = []
    for name, result in results["phases"].items():
        totals = phase_totals(result)
        cpu = result.get("cpu") or {}
        app_ms = 1000 * cpu["app"]["cpu_s"] / totals["requests"] if cpu and totals["requests"] else None
        ratios = [e["p99_ms"] / e["p50_ms"] for e in result["endpoints"].values() if e["p50_ms"]]
        rows.append(
            {
                "phase": name,
                "rps": totals["rps"],
                "app_ms": app_ms,
                "target_ms": cpu_target_ms(result),
                "p50_ms": max((e["p50_ms"] for e in result["endpoints"].values()), default=0.0),
                "p99_ms": max((e["p99_ms"] for e in result["endpoints"].values()), default=0.0),
                "p99_over_p50": max(ratios, default=0.0),
                "server_errors": totals["server_errors"],
            }
        )
    return rows


def format_spec_table(results: dict) -> list[str]:
    lines = [
        "SPEC 16 targets: app CPU per request (check-in 2.0, buy/use 2.5, GET me/ 1.2 ms), "
        f"p99 <= {P99_OVER_P50_MAX:.0f} x p50, no 5xx, login/register >= {HASHING_MIN_RPS:.0f}/s",
        f"  {'phase':8} {'req/s':>7} {'app ms':>7} {'target':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'p99/p50':>7} {'5xx':>5}  verdict",
    ]
    for row in spec_rows(results):
        missed = []
        if row["target_ms"] is not None and row["app_ms"] is not None and row["app_ms"] > row["target_ms"]:
            missed.append("cpu")
        if row["p99_over_p50"] > P99_OVER_P50_MAX:
            missed.append("p99")
        if row["server_errors"]:
            missed.append("5xx")
        if row["phase"][0] in {"L", "R"} and row["rps"] < HASHING_MIN_RPS:
            missed.append("rate")
        target = f"{row['target_ms']:.2f}" if row["target_ms"] is not None else "-"
        app_ms = f"{row['app_ms']:.2f}" if row["app_ms"] is not None else "-"
        lines.append(
            f"  {row['phase']:8} {row['rps']:>7.0f} {app_ms:>7} {target:>7} {row['p50_ms']:>7.1f} "
            f"{row['p99_ms']:>7.1f} {row['p99_over_p50']:>7.1f} {row['server_errors']:>5}  "
            + ("ok" if not missed else "missed: " + ", ".join(missed))
        )
    return lines


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
            if key in cpu:
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
    instances = config.get("instances", 1)
    through = f"{instances} instances through PgBouncer, each " if instances > 1 else ""
    log(
        f"{results['run_id']}: {through}{config['workers']} workers x {config['threads']} threads, "
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
        overview = scale.get("overview")
        if overview:
            log(
                f"  admin overview page: median {overview['load_ms_median']} ms over {overview['runs']} "
                f"loads {overview['load_ms']}; charts computed in {overview['charts_ms']} ms"
            )
            for query in overview["queries"]:
                log(f"    {query['ms']:7.1f} ms  {query['sql'][:100]}")
    log()
    for line in format_spec_table(results):
        log(line)
    for line in format_side_by_side(results):
        log(line)
    log()
    verify = results.get("verify_ledger", {})
    log(f"verify_ledger: exit {verify.get('exit_code')}: {' '.join(verify.get('output', '').split())[:300]}")
    log(f"5xx responses (or connection errors): {results['server_errors']}")
    for line in results.get("gunicorn_errors", [])[:10]:
        log(f"  gunicorn log: {line}")
    log(f"results: {results['json_path']}")


def format_side_by_side(results: dict) -> list[str]:
    """With --against: each checkout's app CPU per request, phase by phase (each served half)."""
    against = results["config"].get("against")
    rows = [(name, r) for name, r in results["phases"].items() if "side_by_side_cpu_s" in r]
    if not against or not rows:
        return []
    lines = [
        "",
        f"Side by side with {against} (each served every other request, same load, same moments):",
        f"  {'phase':8} {'this ms':>8} {'against':>8} {'this/against':>13}",
    ]
    for name, result in rows:
        half = phase_totals(result)["requests"] / 2
        cpu = result["side_by_side_cpu_s"]
        this, other = cpu["this"] / half * 1000, cpu["against"] / half * 1000
        ratio = f"{this / other:.3f}" if other else "n/a"
        lines.append(f"  {name:8} {this:8.2f} {other:8.2f} {ratio:>13}")
    return lines


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


def write_results(path: Path, results: dict) -> None:
    path.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")


def write_sql(
    path: Path, sql: dict[str, list[str]], round_trips: dict[str, int], scripts: dict[str, str]
) -> None:
    """The statements each flow sent, then the pgbench script made of them, ready for pgbench -f."""
    with open(path, "w", encoding="utf-8") as fh:
        for name, lines in sql.items():
            fh.write(f"==== {name}: {round_trips[name]} round trips\n")
            fh.write("\n".join(lines) + "\n\n")
        for name, script in scripts.items():
            fh.write(f"==== pgbench script for {name}\n{script}\n")
