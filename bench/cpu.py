"""CPU accounting from /proc: CPU seconds per group of processes (app, PostgreSQL, load generator, rest)."""

from __future__ import annotations

import os
import time

import psycopg

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name: [state, ppid, ...]."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            raw = fh.read()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="ascii", errors="replace") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a process."""
    fields = _stat(pid)
    return None if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def children_of(parent: int) -> list[int]:
    return [pid for pid in all_pids() if (fields := _stat(pid)) and int(fields[1]) == parent]


def machine_busy_seconds() -> float:
    with open("/proc/stat", encoding="ascii") as fh:
        values = [int(v) for v in fh.readline().split()[1:9]]
    return (sum(values) - values[3] - values[4]) / CLOCK_TICKS  # minus idle and iowait


CPU_GROUPS = {
    "app": "app (gunicorn master + workers)",
    "postgres_bench": "postgres (backends of the bench database)",
    "postgres_other": "postgres (other: WAL writer, checkpointer, other databases)",
    "load_generator": "load generator",
    "pgbouncer": "pgbouncer (--instances)",
    "rest_of_machine": "rest of the machine",
}


class CpuMeter:
    """CPU seconds per group of processes between two snapshots of /proc/<pid>/stat."""

    def __init__(
        self, *, app_pids: list[int], admin_conninfo: str, dbname: str, pgbouncer_pid: int | None = None
    ):
        self.app_pids = app_pids
        self.pgbouncer_pid = pgbouncer_pid
        self.admin_conninfo = admin_conninfo
        self.dbname = dbname

    def _bench_backends(self) -> set[int]:
        with psycopg.connect(self.admin_conninfo, autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.dbname]
            ).fetchall()
        return {row[0] for row in rows}

    def groups(self, loadgen_pid: int) -> dict[str, set[int]]:
        postgres = {pid for pid in all_pids() if _comm(pid) == "postgres"}
        bench = self._bench_backends() & postgres
        groups = {
            "app": {pid for app in self.app_pids for pid in (app, *children_of(app))},
            "postgres_bench": bench,
            "postgres_other": postgres - bench,
            "load_generator": {loadgen_pid},
        }
        if self.pgbouncer_pid is not None:
            groups["pgbouncer"] = {self.pgbouncer_pid}
        return groups

    def snapshot(self, loadgen_pid: int) -> dict:
        pids = set().union(*self.groups(loadgen_pid).values())
        return {
            "time": time.monotonic(),
            "machine": machine_busy_seconds(),
            "pids": {pid: cpu_seconds(pid) for pid in pids},
        }

    def split(self, before: dict, after: dict, loadgen_pid: int) -> dict:
        """CPU seconds and cores busy per group; a process that started in between counts from zero."""
        elapsed = after["time"] - before["time"]
        result, accounted = {}, 0.0

        def entry(seconds: float) -> dict:
            return {"cpu_s": round(seconds, 3), "cores": round(seconds / elapsed, 3) if elapsed else 0.0}

        for name, pids in self.groups(loadgen_pid).items():
            total = 0.0
            for pid in pids:
                end = after["pids"].get(pid)
                if end is not None:
                    total += max(0.0, end - (before["pids"].get(pid) or 0.0))
            accounted += total
            result[name] = entry(total)
        busy = after["machine"] - before["machine"]
        result["rest_of_machine"] = entry(max(0.0, busy - accounted))
        result["machine_busy"] = entry(busy)
        result["elapsed_s"] = round(elapsed, 3)
        return result
