"""Between the HTTP server and Django: request bodies read whole, on time, and the server's own answers.

BufferedRequestBody wraps the WSGI application (engagement/wsgi.py). Before Django builds
its request it reads the body into memory, so that:

- a `Transfer-Encoding: chunked` body is read as what it is. Django reads exactly
  CONTENT_LENGTH bytes, and a chunked request has none, so it would see an empty body; the
  server de-chunks it (gunicorn marks this with `wsgi.input_terminated`), this reads at most
  MAX_REQUEST_BODY_BYTES + 1 bytes of it and sets CONTENT_LENGTH to what it read, so the body
  cap applies (413). A server that does not de-chunk leaves it to the body cap middleware,
  which answers 411.
- a body arrives within REQUEST_BODY_TIMEOUT seconds in total, or the request is answered 408
  (engagement.middleware.BodySizeLimitMiddleware). A client trickling its body would
  otherwise hold one of gunicorn's threads for as long as it likes. Under gunicorn one watchdog
  thread per process shuts the reading side of a late request's socket, which ends the
  blocked read whatever the client's pace.

When the app answers without reading the whole body (408, 411, 413), the connection must
close, or the unread bytes would be read as the next request. WSGI gives an application no
way to say so (Connection is a hop-by-hop header it may not send), so gunicorn.conf.py's
pre_request hook hands the server's request object to this module (remember_gunicorn_request),
and the answer's middleware calls close_connection(), which asks gunicorn to send
`Connection: close` and close.

json_error_page() replaces gunicorn's own HTML error pages (400 bad request line, 414, 431,
...) with the API's JSON error shape; gunicorn.conf.py installs it. gunicorn_logger_class()
is gunicorn's logger, minus the access line's work when that line goes nowhere.

Nothing here imports Django: gunicorn.conf.py loads it in the master process.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import logging
import socket
import threading
import time

from engagement import errors

logger = logging.getLogger("engagement.serving")
CLOSE_CONNECTION = "engagement.close_connection"
BODY_TIMED_OUT = "engagement.body_timed_out"
_READ_SIZE = 64 * 1024

_gunicorn = threading.local()


def remember_gunicorn_request(worker, req) -> None:
    """gunicorn's pre_request hook: the request this thread is about to serve."""
    _gunicorn.request = req


def close_connection(environ) -> None:
    """Ask the server to close the connection after this answer (a no-op where it cannot)."""
    close = environ.get(CLOSE_CONNECTION)
    if close is not None:
        close()


def is_chunked(environ) -> bool:
    return "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()


def _content_length(environ) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


class _Watchdog:
    """One thread per process that, twice a second, shuts the reading side of late sockets.

    Watching a read costs a dictionary entry under a lock; a late read ends within half a
    second of its deadline.
    """

    interval = 0.5

    def __init__(self):
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[float, socket.socket]] = {}
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, deadline: float) -> int:
        ticket = next(self._tickets)
        with self._lock:
            self._watched[ticket] = (deadline, sock)
            if self._thread is None or not self._thread.is_alive():  # per process, after the fork
                self._thread = threading.Thread(target=self._run, name="request-body-watchdog", daemon=True)
                self._thread.start()
        return ticket

    def release(self, ticket: int) -> None:
        with self._lock:
            self._watched.pop(ticket, None)

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            now = time.monotonic()
            with self._lock:
                late = [ticket for ticket, (deadline, _) in self._watched.items() if deadline <= now]
                sockets = [self._watched.pop(ticket)[1] for ticket in late]
            for sock in sockets:
                with contextlib.suppress(OSError):  # already closed
                    sock.shutdown(socket.SHUT_RD)  # the blocked read returns at once


_watchdog = _Watchdog()


class BufferedRequestBody:
    """WSGI middleware: the request body read into memory first (see the module docstring)."""

    def __init__(self, application, *, limit: int, timeout: float):
        self.application = application
        self.limit = limit
        self.timeout = timeout

    def __call__(self, environ, start_response):
        request = getattr(_gunicorn, "request", None)
        if request is not None and getattr(request, "body", None) is environ.get("wsgi.input"):
            environ[CLOSE_CONNECTION] = request.force_close
        chunked = is_chunked(environ)
        length = _content_length(environ)
        if chunked and environ.get("wsgi.input_terminated"):
            size = self.limit + 1  # enough to tell "over the cap" from "at the cap"
        elif not chunked and length is not None and 0 < length <= self.limit:
            size = length
        else:
            return self.application(environ, start_response)  # nothing to read, or refused
        body, timed_out = self._read(environ, size)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)  # the body is now length-delimited
        if timed_out:
            environ[BODY_TIMED_OUT] = True
        return self.application(environ, start_response)

    def _read(self, environ, size: int) -> tuple[bytes, bool]:
        stream = environ["wsgi.input"]
        sock = environ.get("gunicorn.socket")
        deadline = time.monotonic() + self.timeout
        ticket = _watchdog.watch(sock, deadline) if isinstance(sock, socket.socket) else None
        chunks: list[bytes] = []
        remaining = size
        try:
            while remaining > 0:
                data = stream.read(min(remaining, _READ_SIZE))
                if not data:
                    break
                chunks.append(data)
                remaining -= len(data)
        except Exception:  # the server's own parse errors (a bad chunk) included
            logger.info("request body ended early or malformed", exc_info=True)
        finally:
            if ticket is not None:
                _watchdog.release(ticket)
        timed_out = ticket is not None and time.monotonic() >= deadline and remaining > 0
        return b"".join(chunks), timed_out


# --- gunicorn's own error pages ---------------------------------------------------------------

_SERVER_ERRORS: dict[int, type[errors.DomainError]] = {
    400: errors.BadRequest,
    403: errors.PermissionDenied,
    414: errors.UriTooLong,
    417: errors.ExpectationFailed,
    431: errors.HeaderFieldsTooLarge,
    500: errors.InternalError,
    501: errors.TransferCodingNotImplemented,
}


def json_error_page(status_int: int, reason: str) -> bytes:
    """The complete HTTP answer gunicorn sends for a request it refuses itself, in JSON.

    Only the status decides the body (never the refused input, which gunicorn's own page
    echoes); the connection closes, as gunicorn's does.
    """
    fallback = errors.InternalError if status_int >= 500 else errors.BadRequest
    error = _SERVER_ERRORS.get(status_int, fallback)
    body = json.dumps({"error": {"code": error.code, "message": error.message}}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\n"
        "Connection: close\r\n"
        "Content-Type: application/json\r\n"
        "X-Content-Type-Options: nosniff\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def gunicorn_logger_class() -> type:
    """gunicorn's Logger, gathering an access line's fields only when its logger would write it.

    gunicorn counts its access log as on whenever a logconfig_dict is given (gunicorn.conf.py
    gives one, for the error log's format), and then gathers every line's fields (a dict of
    about 40 entries, the environ's included) before the access logger drops it: 4% of a
    `GET me/`'s CPU under the bench, with GUNICORN_ACCESS_LOG off. Here the access path asks
    the `gunicorn.access` logger itself, which gunicorn.conf.py leaves at WARNING when off.
    Built on call, so that importing this module does not import gunicorn.
    """
    from gunicorn import glogging

    class GunicornLogger(glogging.Logger):
        @property
        def access_log_enabled(self) -> bool:
            return self.access_log.isEnabledFor(logging.INFO)

    return GunicornLogger


def install_gunicorn_json_error_pages() -> None:
    """Make gunicorn write json_error_page() where it writes its HTML error page.

    gunicorn has no setting for its error page; every worker writes it through the one
    function gunicorn.util.write_error(sock, status_int, reason, mesg), replaced here (a
    test runs gunicorn and checks its 400 and 414 answers are this JSON).
    """
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        util.write_nonblock(sock, json_error_page(status_int, reason))

    util.write_error = write_error
