"""scripts/tune_argon2.py, which make install runs: the Argon2 library rebuilt for this CPU, same hashes."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from pathlib import Path

import argon2
import pytest
from django.conf import settings

SCRIPT = Path(settings.BASE_DIR, "scripts", "tune_argon2.py")
LOCK = Path(settings.BASE_DIR, "requirements.txt")


@pytest.fixture(scope="module")
def tune():
    spec = importlib.util.spec_from_file_location("tune_argon2", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_locked_block_when_read_then_the_pin_and_every_hash_of_the_lock(tune):
    block = tune.locked_block(LOCK)
    lines = block.splitlines()

    pin = re.fullmatch(r"argon2-cffi-bindings==([\d.]+) \\", lines[0])
    assert pin is not None
    assert pin.group(1) == importlib.metadata.version("argon2-cffi-bindings")
    hashes = [line.strip() for line in lines[1:]]
    assert hashes and all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}( \\)?", h) for h in hashes)
    assert not hashes[-1].endswith("\\")  # the block ends where pip's entry ends
    # The whole entry: as many hashes as the lock lists for the package.
    entry = LOCK.read_text().split("argon2-cffi-bindings==", 1)[1].split("\n    # via", 1)[0]
    assert len(hashes) == entry.count("--hash=sha256:")


def test_locked_block_when_the_package_is_missing_then_lookup_error(tune, tmp_path):
    lock = tmp_path / "requirements.txt"
    lock.write_text("django==5.2 \\\n    --hash=sha256:" + "0" * 64 + "\n")

    with pytest.raises(LookupError):
        tune.locked_block(lock)


def test_installed_library_when_hashing_then_the_reference_hash_of_the_parameters():
    # Whichever build make install left (the tuned one or the wheel), a password hashes to the
    # same value as with the portable build: the tuning changes speed, never a hash.
    encoded = argon2.low_level.hash_secret(
        b"self-test",
        b"self-test-salt",
        time_cost=2,
        memory_cost=19456,
        parallelism=1,
        hash_len=32,
        type=argon2.low_level.Type.ID,
    )
    assert encoded == (
        b"$argon2id$v=19$m=19456,t=2,p=1$c2VsZi10ZXN0LXNhbHQ$aJNU0dKMXoI3vvmJsDjD4+J99cjXIujPp15Mn5P7A8U"
    )
