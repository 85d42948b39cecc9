"""OpenAPI helpers: the documented error responses every endpoint shares."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiResponse

from engagement.serializers import ErrorSerializer


def error_response(description: str, *codes: str) -> OpenApiResponse:
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description + (" Codes: " + ", ".join(f"`{c}`" for c in codes) if codes else ""),
        examples=[
            OpenApiExample(code, value={"error": {"code": code, "message": "..."}}, response_only=True)
            for code in codes
        ],
    )


VALIDATION = {400: error_response("Invalid input.", "validation_error", "parse_error")}
UNAUTHORIZED = {
    401: error_response("Missing, invalid or expired token.", "not_authenticated", "token_not_valid")
}
THROTTLED = {429: error_response("Too many requests; see Retry-After.", "throttled")}
