"""Request-id propagation into log records, the JSON formatter used in production, outage logging."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Never let a credential reach a log line, whatever a library chooses to log.
# A value is a quoted string (spaces included) or a run of non-separator characters.
_VALUE = r"(?:\"[^\"]*\"?|'[^']*'?|[^\s\"',;&}]+)"
_SECRET_KEY = r"[\w-]*(?:password|passwd|secret|token|refresh|access|api[_-]?key|sessionid|csrf)[\w-]*"
_SECRET_PATTERNS = [
    # Authorization headers of any scheme: "Authorization: Bearer x", "'HTTP_AUTHORIZATION': 'Basic x'".
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*)(?:[\"'][^\"']*[\"']?|(?:[a-z]+\s+)?[^\s\"',;}]+)"),
    # key=value and "key": "value" pairs whose key names a secret.
    re.compile(rf"(?i)([\"']?{_SECRET_KEY}[\"']?\s*[:=]\s*){_VALUE}"),
    re.compile(r"(?i)(\bbearer\s+)[\w\-.~+/]+=*"),
]
_JWT = re.compile(r"eyJ[\w-]*\.[\w-]*\.[\w-]*")
# Text that none of the patterns above could match (no key word, no "eyJ") is returned as it is,
# after this one search instead of four substitutions: most lines (every access line) are such.
_MAYBE_SECRET = re.compile(
    r"(?i)authorization|bearer|password|passwd|secret|token|refresh|access|api[_-]?key|sessionid|csrf|eyJ"
)


def _redact_match(match: re.Match) -> str:
    prefix = match.group(1)
    value = match.group(0)[len(prefix) :]
    quote = value[0] if value[:1] in {'"', "'"} else ""
    return f"{prefix}{quote}[redacted]{quote}"


def redact(text: str) -> str:
    """The text with passwords, tokens, secrets and Authorization values replaced by [redacted]."""
    if _MAYBE_SECRET.search(text) is None:
        return text
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_redact_match, text)
    return _JWT.sub("[redacted-jwt]", text)


class RequestIDFilter(logging.Filter):
    """Adds record.request_id from the current request context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def _request_id(record: logging.LogRecord) -> str:
    request_id = getattr(record, "request_id", None)
    return request_id_var.get() if request_id is None else request_id


def skip_unused_record_fields() -> None:
    """Stop every LogRecord from gathering what no format here prints (production only).

    Switches the logging documentation lists under "Optimization": the caller's file, line and
    function (a walk up the stack per record) and the thread and multiprocessing names. Neither
    JSONFormatter, the readable format nor gunicorn's (gunicorn.conf.py) prints any of them;
    together they were about a third of the CPU of the access line written for every request.
    The process id stays: gunicorn's error lines print it.
    """
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False


class JSONFormatter(logging.Formatter):
    """One JSON object per line, credentials redacted.

    Built for the access line every request writes: the timestamp's seconds are formatted
    once per second, the encoder is made once, and redaction costs one regex search when the
    message holds nothing that looks like a credential.
    """

    _encode = json.JSONEncoder(default=str).encode
    _second: tuple[int, str] = (-1, "")  # a whole second and its text, replaced as one

    def _time(self, created: float) -> str:
        whole = int(created)
        second = self._second
        if second[0] != whole:
            second = (whole, datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S"))
            self._second = second
        return f"{second[1]}.{int((created - whole) * 1_000_000):06d}+00:00"

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": _request_id(record),
        }
        for key in ("status_code", "method", "duration_ms"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if hasattr(record, "path"):
            payload["path"] = redact(str(record.path))
        if record.exc_info:
            payload["exc_info"] = redact(self.formatException(record.exc_info))
        return self._encode(payload)


class ReadableFormatter(logging.Formatter):
    """The DEBUG format, with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class OutageLog:
    """Logs a dependency's failures at most once per `interval` seconds (per process), then its recovery.

    An outage of a dependency the service works around (the cache) fails every request the
    same way: logging each one would flood the logs exactly when operators read them. The
    first failure is a WARNING at once; later ones are counted, and the next WARNING, at least
    `interval` seconds on, says how many there were. The first success after failures is
    one INFO line. No tracebacks: the exception's class and message say what failed.
    """

    def __init__(self, logger: logging.Logger, what: str, *, interval: float = 60.0, clock=time.monotonic):
        self._logger = logger
        self._what = what
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0  # since the last success
        self._unreported = 0  # since the last WARNING
        self._reported_at: float | None = None

    def failure(self, exc: BaseException) -> None:
        with self._lock:
            now = self._clock()
            self._failures += 1
            if self._reported_at is not None and now - self._reported_at < self._interval:
                self._unreported += 1
                return
            repeats, self._unreported, self._reported_at = self._unreported, 0, now
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        if repeats:
            self._logger.warning(
                "%s unreachable (%s); %d more failures in the last %d s",
                self._what,
                detail,
                repeats,
                round(self._interval),
            )
        else:
            self._logger.warning("%s unreachable (%s)", self._what, detail)

    def success(self) -> None:
        if not self._failures:  # the common case: no lock
            return
        with self._lock:
            failures, self._failures, self._unreported, self._reported_at = self._failures, 0, 0, None
        if failures:
            self._logger.info("%s reachable again after %d failures", self._what, failures)
