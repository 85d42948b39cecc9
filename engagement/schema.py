"""OpenAPI helpers: the documented error responses every endpoint shares."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from engagement import errors
from engagement.serializers import ErrorSerializer


def _code(error: type[errors.DomainError] | str) -> str:
    return error if isinstance(error, str) else error.code


def error_response(description: str, *kinds: type[errors.DomainError] | str) -> OpenApiResponse:
    """A documented error answer; `kinds` are errors.py classes (or the DRF codes listed there)."""
    codes = [_code(kind) for kind in kinds]
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description + (" Codes: " + ", ".join(f"`{c}`" for c in codes) if codes else ""),
        examples=[
            OpenApiExample(code, value={"error": {"code": code, "message": "..."}}, response_only=True)
            for code in codes
        ],
    )


VALIDATION = {400: error_response("Invalid input.", errors.ValidationFailed, errors.PARSE_ERROR)}
UNAUTHORIZED = {
    401: error_response(
        "Missing, invalid or expired token.", errors.NOT_AUTHENTICATED, errors.TOKEN_NOT_VALID
    )
}
THROTTLED = {429: error_response("Too many requests; see Retry-After.", errors.THROTTLED)}
# CursorPagination answers 404 to a cursor it did not issue (follow the next/previous links as given).
INVALID_CURSOR = {404: error_response("The cursor is not valid.", errors.NotFound)}


def _idempotent_paths() -> set[str]:
    """The schema paths of the POSTs engagement.idempotency accepts a key on."""
    from engagement.idempotency import IDEMPOTENT_ROUTES

    placeholder = "slug-placeholder"
    paths = set()
    for name in IDEMPOTENT_ROUTES:
        try:
            url = reverse(name)
        except NoReverseMatch:
            url = reverse(name, kwargs={"slug": placeholder})
        paths.add(url.replace(placeholder, "{slug}"))
    return paths


_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


_HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def _add_common_errors(result) -> None:
    """Answers any operation can give outside its view: body cap and media type, database down."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in _HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            if "requestBody" in operation:
                responses.setdefault(
                    "413",
                    _error_response(f"`{errors.RequestTooLarge.code}`: the body is over the size cap."),
                )
                responses.setdefault(
                    "415",
                    _error_response(
                        f"`{errors.UNSUPPORTED_MEDIA_TYPE}`: send `Content-Type: application/json`."
                    ),
                )
            responses.setdefault(
                "503",
                _error_response(
                    f"`{errors.ServiceUnavailable.code}`: the database is unavailable; see Retry-After."
                ),
            )


def add_idempotency_header(result, generator, request, public):
    """POSTPROCESSING_HOOK: document Idempotency-Key and its answers on the idempotent POSTs.

    Also documents the answers every operation shares (413/415 for bodies, 503).
    """
    _add_common_errors(result)
    idempotent = _idempotent_paths()
    for path, operations in result.get("paths", {}).items():
        post = operations.get("post")
        if path not in idempotent or post is None:
            continue
        post.setdefault("parameters", []).append(
            {
                "in": "header",
                "name": "Idempotency-Key",
                "required": False,
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
                "description": (
                    "Makes the request safe to retry for 24 h: a repeat with the same method, path "
                    "and body replays the first response (header `Idempotent-Replayed: true`) "
                    "without doing the work again. Scope: the user (register: the client IP)."
                ),
            }
        )
        responses = post.setdefault("responses", {})
        responses.setdefault("400", _error_response("Invalid input or Idempotency-Key."))
        responses.setdefault(
            "409",
            _error_response(
                f"Conflict; `{errors.IdempotencyKeyInUse.code}` while a first request with this key "
                "is still running."
            ),
        )
        responses.setdefault(
            "422",
            _error_response(
                f"`{errors.IdempotencyKeyReused.code}`: the key was used for a different request."
            ),
        )
    return result
