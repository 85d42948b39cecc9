"""Request-id propagation into log records, and the JSON formatter used in production."""

from __future__ import annotations

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

# Never let a credential reach a log line, whatever a library chooses to log.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)(bearer\s+)?[^\s\"',}]+"), r"\1[redacted]"),
    (
        re.compile(r"(?i)([\"']?(?:password|refresh|access|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]+"),
        r"\1[redacted]",
    ),
    (re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]+"), "[redacted-jwt]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RequestIDFilter(logging.Filter):
    """Adds record.request_id from the current request context."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JSONFormatter(logging.Formatter):
    """One JSON object per line, credentials redacted."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        for key in ("status_code", "method", "path", "duration_ms"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc_info"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class ReadableFormatter(logging.Formatter):
    """The DEBUG format, with the same redaction."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
