"""Schemathesis hooks for the fuzzing run (SCHEMATHESIS_HOOKS=engagement.tests.schemathesis_hooks).

Each request is also recorded (phase, positive or negative data, status) in the file named by
$SCHEMATHESIS_CALL_LOG, so the test can report what the run generated.

Every request gets its own Idempotency-Key. The fuzzer draws keys from a small space ("0",
"A", ...), so two different requests of one user would share a key, and the server rightly
answers the second 422 idempotency_key_reused. A valid generated key is made unique by appending
a fresh random suffix (keeping it within the header's 255 visible ASCII characters), so it stays
as valid as it was; an invalid key (a negative test of the header) is sent exactly as generated.
"""

from __future__ import annotations

import json
import os
import re
import uuid

import schemathesis

CALL_LOG = "SCHEMATHESIS_CALL_LOG"
HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"[!-~]{1,255}")
_MAX_LENGTH = 255


def unique_key(key: str) -> str:
    """`key` with a random suffix, still 1..255 visible ASCII characters."""
    return (key + "." + uuid.uuid4().hex)[-_MAX_LENGTH:]


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if not headers:
        return
    for name, value in list(headers.items()):
        if name.lower() == HEADER.lower() and isinstance(value, str) and _VALID_KEY.fullmatch(value):
            headers[name] = unique_key(value)


@schemathesis.hook
def after_call(context, case, response):
    """Append one line per request to $SCHEMATHESIS_CALL_LOG: the phase, the data's polarity, the status."""
    path = os.environ.get(CALL_LOG)
    if not path:
        return
    meta = case.meta
    record = {
        "phase": str(meta.phase.name) if meta else "unknown",
        "mode": str(meta.generation.mode) if meta else "unknown",
        "method": case.method,
        "status": response.status_code,
    }
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
