"""One error shape for every 4xx/5xx: {"error": {"code", "message", "fields?"}}."""

from __future__ import annotations

import logging
import traceback

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DatabaseError, IntegrityError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from engagement import errors
from engagement.errors import DomainError

logger = logging.getLogger("engagement.errors")

# The body parsers DRF runs on request.data (json decodes in its own module, called from these).
_PARSER_MODULES = {"rest_framework.parsers", "engagement.parsers"}

# RFC 9110: every 401 names the scheme to use; DRF's own 401s carry the same value.
WWW_AUTHENTICATE = 'Bearer realm="api"'


def error_body(code: str, message: str, fields: dict | None = None, extra: dict | None = None) -> dict:
    error: dict = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    if extra:
        error.update(extra)
    return {"error": error}


def _headers(exc: DomainError) -> dict[str, str]:
    headers = {}
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    return headers


def json_error(exc: DomainError) -> JsonResponse:
    """The error as a plain Django response (middleware, probes, Django's error views)."""
    return JsonResponse(
        error_body(exc.code, exc.message, exc.fields, exc.extra),
        status=exc.status_code,
        headers=_headers(exc),
    )


def _api_error(exc: DomainError) -> Response:
    return Response(
        error_body(exc.code, exc.message, exc.fields, exc.extra),
        status=exc.status_code,
        headers=_headers(exc),
    )


def _flatten_fields(detail) -> dict:
    """Turn DRF's nested ValidationError detail into {field: [messages]}."""
    if isinstance(detail, dict):
        out = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub_key, sub_value in _flatten_fields(value).items():
                    out[f"{key}.{sub_key}"] = sub_value
            elif isinstance(value, list):
                out[key] = [str(v) for v in _leaves(value)]
            else:
                out[key] = [str(value)]
        return out
    return {"non_field_errors": [str(v) for v in _leaves(detail)]}


def _leaves(value):
    if isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    else:
        yield value


def _drf_code(exc: drf_exceptions.APIException) -> str:
    codes = exc.get_codes()
    if isinstance(codes, str):
        return codes
    if isinstance(codes, dict) and isinstance(codes.get("code"), str):
        return str(codes["code"])  # simplejwt puts its code under "code"
    return str(exc.default_code)


def _drf_message(exc: drf_exceptions.APIException) -> str:
    detail = exc.detail
    if isinstance(detail, dict) and "detail" in detail:
        return str(detail["detail"])
    if isinstance(detail, (list, dict)):
        return str(next(iter(_leaves(detail)), exc.default_detail))
    return str(detail)


def _raised_while_parsing(exc: BaseException) -> bool:
    """A RecursionError from decoding the request body (JSON nested deeper than Python recurses)."""
    if not isinstance(exc, RecursionError):
        return False
    modules = {frame.f_globals.get("__name__") for frame, _ in traceback.walk_tb(exc.__traceback__)}
    return bool(modules & _PARSER_MODULES)


def exception_handler(exc, context):
    """DRF EXCEPTION_HANDLER: render every exception in the API's error shape."""
    headers = {}
    if _raised_while_parsing(exc):
        exc = drf_exceptions.ParseError("JSON parse error - the body is nested too deeply.")
    if isinstance(exc, DomainError):
        return _api_error(exc)
    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return _api_error(errors.RequestTooLarge())

    if isinstance(exc, drf_exceptions.ValidationError):
        return _api_error(errors.ValidationFailed(fields=_flatten_fields(exc.detail)))
    if isinstance(exc, drf_exceptions.APIException):
        auth_header = getattr(exc, "auth_header", None)  # set by DRF on its 401s
        if auth_header:
            headers["WWW-Authenticate"] = auth_header
        wait = getattr(exc, "wait", None)  # set by DRF's Throttled
        if wait is not None:
            headers["Retry-After"] = str(int(wait) if wait >= 1 else 1)
        return Response(
            error_body(_drf_code(exc), _drf_message(exc)),
            status=exc.status_code,
            headers=headers,
        )
    if isinstance(exc, IntegrityError):
        # A race slipped past a service check and hit a constraint: nothing was written.
        logger.warning("integrity error answered as 409: %s", exc.__class__.__name__)
        response = _api_error(errors.ConcurrentChange())
        response.retryable = True  # type: ignore[attr-defined]  # never stored under an Idempotency-Key
        return response
    if isinstance(exc, (OperationalError, DatabaseError)):
        logger.exception("database unavailable")
        return _api_error(errors.ServiceUnavailable())
    logger.exception("unhandled error")
    return _api_error(errors.InternalError())
