"""Every error code of the API, spelled once: typed errors with an HTTP status, a code and a message.

Services raise the domain errors; the middleware, probes and Django's error views answer with
the protocol ones (engagement.exceptions.json_error); errors that DRF or simplejwt raise
themselves keep the code those libraries give, and are listed here (DRF_CODES) so that the
schema and the README name them from one place.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the project answers on purpose; rendered by engagement.exceptions."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."
    retry_after: int | None = None  # seconds, sent as Retry-After

    def __init__(self, message: str | None = None, *, fields: dict | None = None, extra: dict | None = None):
        self.message = message or self.message
        self.fields = fields
        self.extra = extra  # more members of the error object (e.g. retry_at), strings only
        super().__init__(self.message)


# --- Protocol errors (any endpoint) -------------------------------------------------------


class BadRequest(DomainError):
    code = "bad_request"
    message = "Bad request."


class ValidationFailed(DomainError):
    """The input fails validation; `fields` says which field and why."""

    code = "validation_error"
    message = "The request is invalid; see fields."


class PermissionDenied(DomainError):
    status_code = 403
    code = "permission_denied"
    message = "You do not have permission to do this."


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"
    message = "CSRF verification failed."


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class MethodNotAllowed(DomainError):
    status_code = 405
    code = "method_not_allowed"
    message = "Method not allowed."


class RequestTimeout(DomainError):
    """The request body did not arrive in time (a slow or stalled client); the connection closes."""

    status_code = 408
    code = "request_timeout"
    message = "The request body was not received in time."


class LengthRequired(DomainError):
    """A chunked body the server in front could not de-chunk: send Content-Length."""

    status_code = 411
    code = "length_required"
    message = "Send the body with a Content-Length header."


class RequestTooLarge(DomainError):
    status_code = 413
    code = "request_too_large"
    message = "The request body is too large."


class UriTooLong(DomainError):
    """Answered by the HTTP server (gunicorn or the proxy) before the app sees the request."""

    status_code = 414
    code = "uri_too_long"
    message = "The request line is too long."


class ExpectationFailed(DomainError):
    """Answered by gunicorn to an Expect header it does not support."""

    status_code = 417
    code = "expectation_failed"
    message = "The Expect header cannot be met."


class HeaderFieldsTooLarge(DomainError):
    """Answered by the HTTP server (gunicorn or the proxy): too many or too large headers."""

    status_code = 431
    code = "header_fields_too_large"
    message = "The request headers are too large."


class TransferCodingNotImplemented(DomainError):
    """Answered by gunicorn to a Transfer-Encoding other than chunked."""

    status_code = 501
    code = "not_implemented"
    message = "The request's transfer coding is not supported."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class ConcurrentChange(Conflict):
    """A race slipped past a service check and hit a database constraint; nothing was written."""

    message = "The request conflicts with a concurrent change; retry."


class InternalError(DomainError):
    status_code = 500
    code = "internal_error"
    message = "An unexpected error occurred."


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable; retry."
    retry_after = 1


class DatabaseUnavailable(DomainError):
    """/readyz: the database does not answer."""

    status_code = 503
    code = "database_unavailable"
    message = "The database is unreachable."


class MigrationsPending(DomainError):
    """/readyz: the schema is behind the code."""

    status_code = 503
    code = "migrations_pending"
    message = "Database migrations are not applied."


# Codes DRF and simplejwt give their own exceptions (the handler keeps them as they are).
PARSE_ERROR = "parse_error"
NOT_AUTHENTICATED = "not_authenticated"
AUTHENTICATION_FAILED = "authentication_failed"
TOKEN_NOT_VALID = "token_not_valid"
UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
NOT_ACCEPTABLE = "not_acceptable"  # 406: the Accept header excludes JSON
THROTTLED = "throttled"
DRF_CODES = (
    PARSE_ERROR,
    NOT_AUTHENTICATED,
    AUTHENTICATION_FAILED,
    TOKEN_NOT_VALID,
    UNSUPPORTED_MEDIA_TYPE,
    NOT_ACCEPTABLE,
    THROTTLED,
)


class AccountThrottled(DomainError):
    """Too many failed logins (or current-password checks) for one account, from any address."""

    status_code = 429
    code = THROTTLED
    message = "Too many failed attempts for this account; retry later."

    def __init__(self, *, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


# --- Operations ---------------------------------------------------------------------------


class MetricsTokenRequired(DomainError):
    """GET /metrics without `Authorization: Bearer <METRICS_TOKEN>` while the token is set."""

    status_code = 401
    code = NOT_AUTHENTICATED
    message = "Scraping the metrics needs Authorization: Bearer <METRICS_TOKEN>."


class MetricsLoopbackOnly(PermissionDenied):
    """GET /metrics from another host while METRICS_TOKEN is unset."""

    message = "The metrics are served on loopback only while METRICS_TOKEN is unset."


# --- Accounts -----------------------------------------------------------------------------


class WeakPassword(ValidationFailed):
    """The password fails the validators; `fields.password` lists why."""


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    message = "Email or password is incorrect."


class InvalidCurrentPassword(DomainError):
    """POST auth/password/: the current password given is wrong (counts as a failed login)."""

    status_code = 400
    code = "invalid_current_password"
    message = "The current password is incorrect."


class InvalidRefreshToken(DomainError):
    status_code = 401
    code = TOKEN_NOT_VALID
    message = "The refresh token is invalid, expired or revoked."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


# --- Progression ----------------------------------------------------------------------------


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = "You have already checked in today."


class SettingsChangeTooSoon(Conflict):
    """The time zone or day start changed less than the interval ago; `retry_at` says when."""

    code = "settings_change_too_soon"
    message = "The time zone and day start can change once per week."


class PauseActive(Conflict):
    code = "pause_active"
    message = "A pause is already scheduled or running."


class PauseTooSoon(Conflict):
    code = "pause_too_soon"
    message = "The previous pause started too recently."


class NoPause(NotFound):
    code = "no_pause"
    message = "No pause is scheduled or running."


class NothingToRepair(Conflict):
    code = "nothing_to_repair"
    message = "There is no lost streak to repair."


# --- Inventory ------------------------------------------------------------------------------


class ToolNotFound(NotFound):
    code = "tool_not_found"
    message = "No such tool."


class InsufficientLoyalty(Conflict):
    code = "insufficient_loyalty"
    message = "Not enough loyalty points for this purchase."


class InventoryFull(Conflict):
    code = "inventory_full"
    message = "Your inventory has no room for this."


class NotInInventory(Conflict):
    code = "not_in_inventory"
    message = "You do not own this tool."


class NotUsable(Conflict):
    code = "not_usable"
    message = "This tool is not used by hand: a streak freeze is used at your next check-in."


class MaxHeldReached(Conflict):
    code = "max_held_reached"
    message = "You already hold as many of this tool as allowed."


# --- Rewards --------------------------------------------------------------------------------


class RewardNotFound(NotFound):
    code = "reward_not_found"
    message = "No such reward."


class RewardLocked(Conflict):
    code = "reward_locked"
    message = "This reward has not been unlocked yet."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    message = "This reward has already been claimed."


# --- Leaderboards ---------------------------------------------------------------------------


class LeaderboardNotFound(NotFound):
    code = "leaderboard_not_found"
    message = "No such leaderboard."


class PeriodNotFound(NotFound):
    code = "period_not_found"
    message = "An all-time leaderboard has no previous period."


# --- Idempotency-Key ------------------------------------------------------------------------


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used for a different request."


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    message = "A request with this Idempotency-Key is still being processed."


class InvalidIdempotencyKey(DomainError):
    status_code = 400
    code = "invalid_idempotency_key"
    message = "Idempotency-Key must be 1 to 255 visible ASCII characters."


def all_codes() -> list[str]:
    """Every code the API can answer with, sorted (the README lists them; a test checks it)."""
    codes = set(DRF_CODES)
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)
