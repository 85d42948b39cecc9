"""OpenAPI: closed request bodies, and the documented error responses every endpoint shares.

The schema says exactly what the server accepts (clients are generated from it, and the suite
fuzzes the server against it): request bodies of StrictSerializer are closed and their strings
state what the server refuses; every operation lists the error answers it can give
(document_common_errors); the idempotent POSTs document their header (add_idempotency_header).
"""

from __future__ import annotations

import inspect

from django.core.validators import ProhibitNullCharactersValidator
from django.urls import NoReverseMatch, reverse
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import serializers

from engagement import errors
from engagement.serializers import ErrorSerializer, StrictSerializer

# What a CharField refuses besides its length: NUL (PostgreSQL cannot store it), and, when it
# trims whitespace and refuses blanks, a value that is only whitespace.
NO_NUL_PATTERN = r"^[^\u0000]*$"
NOT_BLANK_NO_NUL_PATTERN = r"^[^\u0000]*[^\s\u0000][^\u0000]*$"


def _string_pattern(field: serializers.CharField) -> str | None:
    if not any(isinstance(v, ProhibitNullCharactersValidator) for v in field.validators):
        return None
    if field.trim_whitespace and not field.allow_blank:
        return NOT_BLANK_NO_NUL_PATTERN
    return NO_NUL_PATTERN


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer's request body is closed (`additionalProperties: false`), as the server is."""

    target_class = "engagement.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        schema["additionalProperties"] = False
        one_of = getattr(self.target, "openapi_one_of", None)
        if one_of:  # which combinations of the fields the server takes (a body must match one)
            schema["x-one-of"] = one_of  # oneOf once the enum hook has run (require_constrained_bodies)
        if schema.get("description") == inspect.getdoc(StrictSerializer):
            del schema["description"]  # the base class's docstring, not this body's
        properties = schema.get("properties", {})
        for name, field in force_instance(self.target).fields.items():
            prop = properties.get(name)
            if (
                prop is None
                or not isinstance(field, serializers.CharField)
                or prop.get("type") != "string"
                or {"pattern", "format", "enum"} & set(prop)
            ):
                continue
            pattern = _string_pattern(field)
            if pattern:
                prop["pattern"] = pattern
        return schema


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
# The answers of a cursor-paginated list of the caller's own rows, besides its 200.
CURSOR_LIST = {**VALIDATION, **UNAUTHORIZED, **INVALID_CURSOR, **THROTTLED}


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
_HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def _document(responses: dict, status: str, description: str, *kinds: type[errors.DomainError] | str) -> None:
    """Make `responses[status]` an error answer naming every code in `kinds`.

    An answer the view documented keeps its description; the codes it does not name yet are
    added to it, each with an example body.
    """
    response = responses.get(status)
    if response is None:
        response = responses[status] = {
            "description": description,
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    content = response.setdefault("content", {}).setdefault("application/json", {"schema": _ERROR_REF})
    examples = content.setdefault("examples", {})
    missing = [code for code in map(_code, kinds) if f"`{code}`" not in response["description"]]
    if not missing:
        return
    separator = ", " if " Codes: " in response["description"] else " Codes: "
    response["description"] += separator + ", ".join(f"`{c}`" for c in missing)
    for code in missing:
        name = "".join(part.title() for part in code.split("_"))  # drf-spectacular's example names
        examples.setdefault(name, {"value": {"error": {"code": code, "message": "..."}}, "summary": code})


def _operations(result):
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method in _HTTP_METHODS:
                yield operation


def document_common_errors(result, generator, request, public):
    """POSTPROCESSING_HOOK: every operation lists the error answers it can give.

    A body or a parameter can be refused (400); a body can be too large (413) or not JSON (415);
    an operation that takes a token answers 401 to a bad one, and to none unless the token is
    optional there (the public catalog reads it when sent); a path parameter that names
    nothing answers 404; an Accept header without JSON gets 406; every view is throttled (429);
    the database can be down (503). What a view documents itself for the same status is kept,
    and completed.
    """
    for operation in _operations(result):
        responses = operation.setdefault("responses", {})
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        if has_body:
            _document(responses, "400", "Invalid input.", errors.ValidationFailed, errors.PARSE_ERROR)
        elif any(parameter.get("in") in ("query", "header") for parameter in parameters):
            _document(responses, "400", "Invalid input.", errors.ValidationFailed)
        security = operation.get("security", [])
        if any(security):  # a token is accepted: a bad one is refused, and a missing one unless optional
            optional = {} in security
            _document(
                responses,
                "401",
                "Invalid or expired token." if optional else "Missing, invalid or expired token.",
                *(() if optional else (errors.NOT_AUTHENTICATED,)),
                errors.TOKEN_NOT_VALID,
                errors.AUTHENTICATION_FAILED,
            )
        if any(parameter.get("in") == "path" for parameter in parameters):
            _document(responses, "404", "Nothing matches the path.", errors.NotFound)
        _document(responses, "406", "The Accept header does not allow JSON.", errors.NOT_ACCEPTABLE)
        if has_body:
            _document(responses, "413", "The body is over the size cap.", errors.RequestTooLarge)
            _document(
                responses, "415", "Send `Content-Type: application/json`.", errors.UNSUPPORTED_MEDIA_TYPE
            )
        _document(responses, "429", "Too many requests; see Retry-After.", errors.THROTTLED)
        _document(
            responses, "503", "The database is unavailable; see Retry-After.", errors.ServiceUnavailable
        )
    return result


def require_constrained_bodies(result, generator, request, public):
    """POSTPROCESSING_HOOK: a body whose schema has `oneOf` alternatives must be sent.

    The alternatives come from the serializer's `openapi_one_of` (StrictSerializerExtension).
    drf-spectacular marks a request body required only when its object has required fields; a
    body such as logout's ({refresh} or {all: true}) has none at the top, but an empty one is
    refused all the same.
    """
    schemas = result.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        # Set here, after drf-spectacular's enum hook, which would merge the alternatives' enums.
        if "x-one-of" in schema:
            schema["oneOf"] = schema.pop("x-one-of")
    for operation in _operations(result):
        body = operation.get("requestBody")
        if not body:
            continue
        for content in body.get("content", {}).values():
            ref = content.get("schema", {}).get("$ref", "")
            if "oneOf" in schemas.get(ref.rsplit("/", 1)[-1], {}):
                body["required"] = True
    return result


IDEMPOTENCY_KEY_PARAMETER = {
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


def add_idempotency_header(result, generator, request, public):
    """POSTPROCESSING_HOOK: document Idempotency-Key and its answers on the idempotent POSTs."""
    idempotent = _idempotent_paths()
    for path, operations in result.get("paths", {}).items():
        post = operations.get("post")
        if path not in idempotent or post is None:
            continue
        post.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY_PARAMETER))
        responses = post.setdefault("responses", {})
        _document(responses, "400", "Invalid input.", errors.InvalidIdempotencyKey)
        _document(
            responses,
            "409",
            "A first request with this Idempotency-Key is still running, or a concurrent change won (retry).",
            errors.IdempotencyKeyInUse,
            errors.ConcurrentChange,
        )
        _document(
            responses,
            "422",
            "The Idempotency-Key was used for a different request.",
            errors.IdempotencyKeyReused,
        )
    return result
