"""Cross-cutting HTTP middleware: the request id on every response, the body-size cap, static files."""

from __future__ import annotations

import logging
import os
import re
import time
import uuid

from django.conf import settings
from django.utils.log import log_response
from whitenoise.middleware import WhiteNoiseMiddleware

from engagement import errors
from engagement.exceptions import json_error
from engagement.logging import request_id_var

access_log = logging.getLogger("engagement.access")
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
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.path,
                        "status_code": response.status_code,
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


class BodySizeLimitMiddleware:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return json_error(errors.BadRequest("Content-Length is not a number."))
        if length > self.limit:
            return json_error(errors.RequestTooLarge(f"The request body is larger than {self.limit} bytes."))
        return self.get_response(request)


class JSONErrorMiddleware:
    """Give error responses produced outside DRF (Django's 404/500 pages, DEBUG pages) the API's error shape.

    The admin keeps its own HTML pages; everything else answers in JSON.
    """

    _errors: dict[int, type[errors.DomainError]] = {
        400: errors.BadRequest,
        403: errors.PermissionDenied,
        404: errors.NotFound,
        405: errors.MethodNotAllowed,
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

    def add_files(self, root, prefix=None):
        if root == self.static_root and not os.path.isdir(root):
            self.use_finders = True  # read right after this call in WhiteNoiseMiddleware.__init__
            return
        super().add_files(root, prefix)
