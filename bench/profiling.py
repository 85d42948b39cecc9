"""Profiling with py-spy: recording the gunicorn workers, and splitting their samples by layer and stage."""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


@dataclass(frozen=True)
class Code:
    """Where py-spy shows a function: the qualified name, file and lines of its code object.

    A module stands for every function in its file (no qualname, no lines).
    """

    filename: str
    qualname: str | None = None
    lines: range | None = None

    @classmethod
    def of(cls, target: object) -> Code:
        if isinstance(target, ModuleType) and target.__file__:
            return cls(filename=target.__file__)
        if isinstance(target, property):
            target = target.fget
        # Decorators that keep __wrapped__ (functools.wraps, transaction.atomic) hide the frame py-spy sees.
        function = inspect.unwrap(getattr(target, "__func__", target))
        code = getattr(function, "__code__", None)
        if code is None:
            raise TypeError(f"a profile stage needs a function or a module, not {target!r}")
        last = max((line for *_, line in code.co_lines() if line is not None), default=code.co_firstlineno)
        return cls(code.co_filename, code.co_qualname, range(code.co_firstlineno, last + 1))

    def matches(self, function: str, path: str, line: int | None) -> bool:
        # py-spy shortens a file to its path below the sys.path entry it was imported from.
        return (
            self.qualname in (None, function)
            and (self.filename == path or self.filename.endswith("/" + path))
            and (self.lines is None or line is None or line in self.lines)
        )


@dataclass(frozen=True)
class Stage:
    """A stage of a request: the samples with any of `on_stack` on the stack and none of `unless`."""

    name: str
    on_stack: tuple[Code, ...]
    unless: tuple[Code, ...] = ()

    @classmethod
    def of(cls, name: str, *targets: object, unless: tuple[object, ...] = ()) -> Stage:
        """From function objects (or modules, for every function in them), not names that can go stale."""
        if not targets:
            raise ValueError(f"profile stage {name!r} names no function")
        return cls(name, tuple(map(Code.of, targets)), tuple(map(Code.of, unless)))


def _frame(frame: str) -> tuple[str, str, int | None]:
    """py-spy's raw frame 'function (path/file.py:line)' -> (function, path/file.py, line)."""
    function, _, rest = frame.partition(" (")
    path, _, line = rest.rstrip(")").rpartition(":")
    if not path:
        path, line = line, ""
    return function, path, int(line) if line.isdigit() else None


def analyze_profile(raw_path: Path, stages: list[Stage], limit: int = 20) -> dict:
    """Own-time top functions, the split by layer and by request stage, from py-spy's raw output."""
    own, layers, total = defaultdict(int), defaultdict(int), 0
    stage_samples = [0] * len(stages)
    codes = {code for stage in stages for code in (*stage.on_stack, *stage.unless)}
    found: dict[str, frozenset[Code]] = {}  # a few thousand distinct frames in hundreds of thousands
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
            function, path, _ = _frame(frames[-1])
            own[f"{function} ({path})"] += n
            layer = next((name for name, roots in PROFILE_LAYERS if any(r in path for r in roots)), "other")
            layers[layer] += n
            present: set[Code] = set()
            for frame in frames:
                if frame not in found:
                    found[frame] = frozenset(c for c in codes if c.matches(*_frame(frame)))
                present |= found[frame]
            for i, stage in enumerate(stages):
                if not present.isdisjoint(stage.on_stack) and present.isdisjoint(stage.unless):
                    stage_samples[i] += n

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
                "name": stage.name,
                "samples": samples,
                "percent": round(100 * samples / total, 1) if total else 0,
            }
            for stage, samples in zip(stages, stage_samples, strict=True)
        ],
    }
