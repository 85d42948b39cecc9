"""Rebuild the Argon2 library from its locked source for this machine's CPU (make install).

Every login and registration spends most of its CPU in one Argon2id hash (m = 19 MiB, t = 2,
p = 1; accounts/hashers.py). The argon2-cffi-bindings wheel from PyPI is built for any x86-64
CPU: its SSE2 code moves 16 bytes per instruction. The same library compiled for a CPU with
AVX2 moves 32 and takes about a third less CPU per hash (26 against 40 ms on the 2-core
benchmark machine, alternating runs), with the same parameters and the same hashes.

So `make install` rebuilds that one package from its source distribution, whose hash is in
requirements.txt like every other file, with the compiler tuned for the CPU it runs on
(-march=native), when that CPU has AVX2. The result then runs only on CPUs like this one: a
venv is not moved between machines, but an image is, so the Dockerfile keeps the portable wheel
unless told otherwise (its ARGON2_CFLAGS build argument, README "Deployment").

Anything that goes wrong (no compiler, no CMake and no network to fetch one, a build error, a
self-test that fails) leaves the wheel in place with a warning: the tuned build is a speed-up,
never a condition of installing. ARGON2_BUILD=wheel keeps the wheel without trying;
ARGON2_CFLAGS overrides the compiler flags (then the CPU is not checked). A tuned build
leaves its flags in <venv>/.argon2-tuned, to tell which build a venv holds.

    python scripts/tune_argon2.py [requirements.txt]
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "argon2-cffi-bindings"
MARKER_NAME = ".argon2-tuned"
TUNED_FLAGS = "-O3 -march=native"


def locked_block(lock: Path) -> str:
    """The package's entry in the lock: its pin and every file hash, as pip reads them."""
    match = re.search(rf"^{re.escape(PACKAGE)}==[^\n]*(?:\n[ \t]+[^\n]*)*", lock.read_text(), re.MULTILINE)
    if match is None:
        raise LookupError(f"{PACKAGE} is not in {lock}")
    return "\n".join(line for line in match.group(0).splitlines() if not line.lstrip().startswith("#"))


def has_avx2() -> bool:
    if platform.system() != "Linux" or platform.machine().lower() not in {"x86_64", "amd64"}:
        return False
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(line.startswith("flags") and " avx2" in line for line in cpuinfo.splitlines())


def pip_install(block: str, *, source: bool, env: dict[str, str]) -> subprocess.CompletedProcess:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write(block + "\n")
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    command += ["--require-hashes", "--no-deps", "--force-reinstall", "--no-cache-dir", "-r", handle.name]
    if source:
        command += ["--no-binary", PACKAGE]
    try:
        # This interpreter's pip, on the lock's own entry.
        return subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        os.unlink(handle.name)


def self_test() -> bool:
    """A hash and its verification in a fresh interpreter, with the project's parameters."""
    code = (
        "from argon2 import PasswordHasher\n"
        "h = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)\n"
        "assert h.verify(h.hash('self-test'), 'self-test')\n"
        # A hash from the portable build must verify too: the tuned build changes speed only.
        "assert h.verify('$argon2id$v=19$m=19456,t=2,p=1$c2VsZi10ZXN0LXNhbHQ$"
        "aJNU0dKMXoI3vvmJsDjD4+J99cjXIujPp15Mn5P7A8U', 'self-test')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)  # noqa: S603
    return result.returncode == 0


def main(argv: list[str]) -> int:
    lock = Path(argv[1] if len(argv) > 1 else "requirements.txt")
    marker = Path(sys.prefix) / MARKER_NAME
    if os.environ.get("ARGON2_BUILD", "").strip().lower() == "wheel":
        print("tune_argon2: ARGON2_BUILD=wheel, keeping the portable wheel")
        return 0
    flags = os.environ.get("ARGON2_CFLAGS", "").strip()
    if not flags:
        if not has_avx2():
            print("tune_argon2: no AVX2 on this CPU, keeping the portable wheel")
            return 0
        flags = TUNED_FLAGS
    block = locked_block(lock)
    env = {**os.environ, "CFLAGS": flags, "ARGON2_CFFI_USE_SSE2": "1"}
    print(f"tune_argon2: building {block.splitlines()[0].split()[0]} from source with CFLAGS={flags!r}")
    built = pip_install(block, source=True, env=env)
    if built.returncode == 0 and self_test():
        marker.write_text(flags + "\n")
        return 0
    reason = (built.stderr or built.stdout).strip().splitlines()[-1:] or ["its self-test failed"]
    print(f"tune_argon2: WARNING: the tuned build failed ({reason[0]}); keeping the portable wheel")
    restored = pip_install(block, source=False, env=dict(os.environ))
    marker.unlink(missing_ok=True)
    if restored.returncode != 0 or not self_test():
        print(restored.stderr, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
