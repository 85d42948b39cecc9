"""Cross-cutting HTTP middleware: request id on every response, Host check, body cap, static files."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from typing import ClassVar

from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.utils.log import log_response
from whitenoise.middleware import WhiteNoiseMiddleware

from engagement import errors
from engagement.exceptions import json_error
from engagement.logging import request_id_var
from engagement.serving import BODY_TIMED_OUT, close_connection, is_chunked

access_log = logging.getLogger("engagement.access")
disallowed_host_log = logging.getLogger("django.security.DisallowedHost")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class RequestIDMiddleware:
    """Echo a well-formed X-Request-ID from the client, else generate one; log with it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            status = response.status_code
            # The access line: one per request, never sampled; 4xx at WARNING and 5xx at ERROR,
            # so a WARNING log level still keeps every refused and failed request.
            level = logging.INFO if status < 400 else logging.WARNING if status < 500 else logging.ERROR
            if access_log.isEnabledFor(level):
                path = request.path  # without the query string: a token put in "?token=" stays out
                access_log.log(
                    level,
                    "%s %s %s",
                    request.method,
                    path,
                    status,
                    extra={
                        "method": request.method,
                        "path": path,
                        "status_code": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            if response.status_code >= 400:
                # Django logs error responses after the middleware chain has returned, when the
                # request id is no longer set; logging here (once: it marks the response) keeps it.
                log_response(
                    "%s: %s", response.reason_phrase, request.path, response=response, request=request
                )
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class AllowedHostMiddleware:
    """Answer a Host outside ALLOWED_HOSTS with 400 and one WARNING line.

    Left to Django, the first middleware that asks for the host raises DisallowedHost, which
    Django logs at ERROR with a traceback, once per request: scanners sending any Host would
    flood the error log. Asked here first, it is one WARNING line on the same logger
    (django.security.DisallowedHost), marked logged so the request log does not repeat it.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            request.get_host()
        except DisallowedHost as exc:
            response = json_error(errors.BadRequest("The Host header is not one this server answers to."))
            log_response(
                "%s", exc, response=response, request=request, logger=disallowed_host_log, level="warning"
            )
            return response
        return self.get_response(request)


class BodySizeLimitMiddleware:
    """Refuse a body that is too large (413), too slow (408) or of unknown length (411).

    engagement.serving.BufferedRequestBody has already read the body when the server could
    give it (de-chunked, with a deadline); this answers what it could not. Each of these
    answers leaves body bytes unread, so the connection is closed after it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request):
        meta = request.META
        try:
            length = int(meta.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return self._refuse(request, errors.BadRequest("Content-Length is not a number."))
        if meta.get(BODY_TIMED_OUT):
            return self._refuse(request, errors.RequestTimeout())
        if is_chunked(meta) and not meta.get("CONTENT_LENGTH"):
            return self._refuse(request, errors.LengthRequired())
        if length > self.limit:
            return self._refuse(
                request, errors.RequestTooLarge(f"The request body is larger than {self.limit} bytes.")
            )
        return self.get_response(request)

    @staticmethod
    def _refuse(request, error: errors.DomainError):
        close_connection(request.META)
        return json_error(error)


class JSONErrorMiddleware:
    """Give error responses produced outside DRF (Django's 404/500 pages, DEBUG pages) the API's error shape.

    The admin keeps its own HTML pages; everything else answers in JSON.
    """

    _errors: dict[int, type[errors.DomainError]] = {
        400: errors.BadRequest,
        403: errors.PermissionDenied,
        404: errors.NotFound,
        405: errors.MethodNotAllowed,
        408: errors.RequestTimeout,
        411: errors.LengthRequired,
        413: errors.RequestTooLarge,
        500: errors.InternalError,
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code >= 400
            and not response.get("Content-Type", "").startswith("application/json")
            and not request.path.startswith("/admin/")
        ):
            status = response.status_code
            error = self._errors.get(status) or (errors.InternalError if status >= 500 else errors.BadRequest)
            replaced = json_error(error(f"{response.reason_phrase or 'Error'}."))
            replaced.status_code = response.status_code
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if header in response:
                    replaced[header] = response[header]
            return replaced
        return response


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, serving what collectstatic wrote, or the apps' own static files where it never ran.

    Production serves STATIC_ROOT: collected at image build time (Dockerfile), by `make run`
    when DEBUG is off, or by the deploy's `manage.py collectstatic`; compressed copies included,
    and no directory scan of the installed apps at start. A process started without a prior
    collectstatic (a bare gunicorn on a fresh checkout) would otherwise log WhiteNoise's
    "No directory at" warning in every worker and serve no admin or docs assets; instead it
    serves them from the apps' static directories (Django's finders), as DEBUG does.
    """

    # The finders' files, scanned once per process and setup: WhiteNoise scans them in every
    # middleware instance, and a process that builds its handler more than once (Django's test
    # client builds one per client) would read every app's static directory each time.
    _finder_files: ClassVar[dict[tuple, dict]] = {}
    files: dict  # WhiteNoise's url -> StaticFile map (WhiteNoise ships no type hints)

    def add_files_from_finders(self):
        key = (
            self.static_prefix,
            self.max_age,
            self.charset,
            self.allow_all_origins,
            tuple(settings.INSTALLED_APPS),
            tuple(str(directory) for directory in settings.STATICFILES_DIRS),
        )
        files = self._finder_files.get(key)
        if files is None:
            own, self.files = self.files, {}
            super().add_files_from_finders()
            files = self._finder_files[key] = self.files
            self.files = own
        self.files.update(files)  # as WhiteNoise's own scan does: a finder's file wins

    def add_files(self, root, prefix=None):
        if root == self.static_root and not os.path.isdir(root):
            self.use_finders = True  # read right after this call in WhiteNoiseMiddleware.__init__
            return
        super().add_files(root, prefix)


class CSPMiddleware(DjangoCSPMiddleware):
    """django-csp, passing by the paths every configured policy excludes (the JSON API).

    django-csp builds both policies (enforced and report-only) for every response and only
    then looks at EXCLUDE_URL_PREFIXES, so an API response paid for two policies it never
    carries (about a twentieth of a `GET me/`'s CPU in an in-process profile). Here an
    excluded path goes straight through; every other response is django-csp's own.
    """

    def __call__(self, request):
        if self._excluded(request.path_info):
            return self.get_response(request)
        return super().__call__(request)

    @staticmethod
    def _excluded(path: str) -> bool:
        for name in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
            policy = getattr(settings, name, None)
            if policy and not path.startswith(tuple(policy.get("EXCLUDE_URL_PREFIXES") or ())):
                return False
        return True
