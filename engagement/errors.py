"""Typed domain errors: each carries the HTTP status, the API error code and a message."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a service raises on purpose; rendered by engagement.exceptions."""

    status_code = 400
    code = "bad_request"
    message = "The request could not be processed."

    def __init__(self, message: str | None = None, *, fields: dict | None = None):
        self.message = message or self.message
        self.fields = fields
        super().__init__(self.message)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    message = "The request conflicts with the current state."


class WeakPassword(DomainError):
    """The password fails the validators; `fields.password` lists why."""

    code = "validation_error"
    message = "The request is invalid; see fields."


class InvalidCredentials(DomainError):
    status_code = 401
    code = "invalid_credentials"
    message = "Email or password is incorrect."


class InvalidRefreshToken(DomainError):
    status_code = 401
    code = "token_not_valid"
    message = "The refresh token is invalid, expired or revoked."


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."


class AlreadyCheckedIn(Conflict):
    code = "already_checked_in"
    message = "You have already checked in today."


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


class RewardNotFound(NotFound):
    code = "reward_not_found"
    message = "No such reward."


class RewardLocked(Conflict):
    code = "reward_locked"
    message = "This reward has not been unlocked yet."


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    message = "This reward has already been claimed."


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
