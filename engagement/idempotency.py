"""Idempotency-Key for the state-changing POSTs (after Stripe and the IETF draft).

The key row is inserted at the start of the request's transaction and completed with the
response in that same transaction, so the work and its stored answer commit together or not
at all. A concurrent duplicate blocks on the key's unique index until the first commits, then
replays its answer: never a second execution. Refusals of the request itself (400, 401, 403,
406, 413, 415, 429) and 5xx answers are not stored (the transaction rolls back, so the key
stays free for a retry); a database failure anywhere in the
transaction, its commit included, answers 503 so that the client retries with the same key.
The key's owner is authenticated exactly as the view would (a token the view refuses never
replays anything). Keys expire after IDEMPOTENCY_KEY_TTL: an expired row is replaced lazily
on reuse, and purge_expired() deletes them in bulk (`manage.py purge_idempotency_keys`; run it
hourly). A scope keeps at most IDEMPOTENCY_MAX_KEYS live keys: each new key drops the oldest
beyond that bound (MAX_KEYS_PER_SCOPE), so one client cannot grow the table without limit.

Nothing secret is kept in the clear:
- the fingerprint is an HMAC-SHA256 keyed by the server's secret (SECRET_KEY, with
  SECRET_KEY_FALLBACKS accepted), not a plain hash: a registration's body holds a password,
  and a plain hash of it could be guessed offline at fast-hash speed from a database copy;
- a stored answer carrying tokens (registration's `access` and `refresh`) is kept with each
  token's signature removed, which makes it unusable, and the replay signs it again with the
  signing key: the replay is byte for byte the first answer, the same tokens, so a session
  revoked since (logout, password change) stays revoked. Someone with the database alone gets
  no usable token.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
from typing import cast

import jwt
from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.http import HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.state import token_backend

from engagement.db import delete_in_batches
from engagement.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ServiceUnavailable,
)
from engagement.exceptions import json_error
from engagement.models import IdempotencyKey

logger = logging.getLogger("engagement.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# URL names of the POSTs that accept the header; register is scoped by client IP.
IDEMPOTENT_ROUTES = frozenset(
    {
        "auth-register",
        "checkins",
        "tool-buy",
        "tool-use",
        "reward-claim",
        "me-bootstrap",
        "me-pause",
        "me-streak-repair",
    }
)
ANONYMOUS_ROUTES = frozenset({"auth-register"})
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
# Answers given before the work could start (the request itself was refused): retrying with
# the same key after fixing the request must execute it, so these are never stored.
_NOT_STORED = {400, 401, 403, 406, 413, 415, 429}
# query_canceled (statement_timeout) and lock_not_available (lock_timeout).
_TIMEOUT_SQLSTATES = {"57014", "55P03"}
_MAX_SCOPE = cast(int, IdempotencyKey._meta.get_field("scope").max_length)
MAX_KEYS_PER_SCOPE: int = settings.IDEMPOTENCY_MAX_KEYS
_FINGERPRINT_SALT = "engagement.idempotency.fingerprint"
# Top-level fields of a stored JSON answer that hold a token (stored without its signature).
TOKEN_FIELDS = ("access", "refresh")


def _error(exc_class) -> JsonResponse:
    return json_error(exc_class())


def _request_message(request) -> bytes:
    """Method, full path and body (a JSON body by meaning, not spacing), as one message."""
    body = request.body
    with contextlib.suppress(ValueError, UnicodeDecodeError, RecursionError):
        body = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    return b"\0".join((request.method.encode(), request.get_full_path().encode(), body))


def fingerprint(request, *, secret: str | bytes | None = None) -> str:
    """HMAC-SHA256 of the request (method, path, body), keyed by the server's secret."""
    return salted_hmac(
        _FINGERPRINT_SALT, _request_message(request), secret=secret, algorithm="sha256"
    ).hexdigest()


def _same_request(stored: str, request, current: str) -> bool:
    """Whether a stored fingerprint is this request's, under the secret or a fallback one."""
    if constant_time_compare(stored, current):
        return True
    return any(
        constant_time_compare(stored, fingerprint(request, secret=old))
        for old in settings.SECRET_KEY_FALLBACKS
    )


def _signing_input(token: str) -> str | None:
    """A JWT's "header.payload" part, or None for a value that is not a JWT."""
    if not isinstance(token, str) or token.count(".") != 2:
        return None
    return token.rsplit(".", 1)[0]


def _sign(signing_input: str) -> str:
    algorithm = jwt.get_algorithm_by_name(token_backend.algorithm)
    signature = algorithm.sign(signing_input.encode(), token_backend.prepared_signing_key)
    return f"{signing_input}.{jwt.utils.base64url_encode(signature).decode()}"


def _token_fields(content: str) -> dict[str, str]:
    """The TOKEN_FIELDS of a JSON object body, {} for any other body."""
    if not any(f'"{name}"' in content for name in TOKEN_FIELDS):
        return {}  # most bodies: no parse
    with contextlib.suppress(ValueError, RecursionError):
        data = json.loads(content)
        if isinstance(data, dict):
            return {name: data[name] for name in TOKEN_FIELDS if isinstance(data.get(name), str)}
    return {}


def seal_tokens(content: str) -> str:
    """The answer with each token's signature removed: "header.payload." cannot authenticate."""
    for token in _token_fields(content).values():
        signing_input = _signing_input(token)
        if signing_input is not None:
            content = content.replace(json.dumps(token), json.dumps(f"{signing_input}."))
    return content


def unseal_tokens(content: str) -> str:
    """seal_tokens() undone: each unsigned token signed again with the current signing key."""
    for token in _token_fields(content).values():
        if token.count(".") == 2 and token.endswith("."):
            content = content.replace(json.dumps(token), json.dumps(_sign(token[:-1])))
    return content


def _scope(request, route: str) -> str | None:
    """The key's owner, or None to let the view answer (401) without touching any key.

    Authenticates exactly as the views do (signature, expiry, active user), so a token that
    the view would refuse can never replay a stored answer.
    """
    if route in ANONYMOUS_ROUTES:
        scope = f"ip:{BaseThrottle().get_ident(request)}"
        if len(scope) > _MAX_SCOPE:  # whatever a forwarded header holds, the column fits it
            scope = "ip-sha256:" + hashlib.sha256(scope.encode()).hexdigest()
        return scope
    # Imported classes at run time (DRF's settings import the dotted paths).
    authenticators = cast(list[type[BaseAuthentication]], api_settings.DEFAULT_AUTHENTICATION_CLASSES)
    for authenticator in authenticators:
        try:
            result = authenticator().authenticate(request)
        except (AuthenticationFailed, TokenError):
            return None  # the view answers 401; nothing is stored
        if result is not None:
            return f"user:{result[0].pk}"
    return None


def _storable(response) -> bool:
    """Only final answers are kept: 2xx, and 4xx that say something about this request.

    Redirects, refusals before the work (400/401/403/406/413/415/429), 5xx, and 409s a race
    caused (marked retryable by the exception handler) leave the key free for a retry.
    """
    status = response.status_code
    if getattr(response, "retryable", False):
        return False
    return 200 <= status < 300 or (400 <= status < 500 and status not in _NOT_STORED)


def _timed_out(exc: OperationalError) -> bool:
    """True when the statement was cancelled by a timeout (not when the database failed)."""
    return getattr(exc.__cause__, "sqlstate", None) in _TIMEOUT_SQLSTATES


def _unavailable() -> JsonResponse:
    return json_error(ServiceUnavailable())


def _replay(record: IdempotencyKey) -> HttpResponse:
    response = HttpResponse(
        unseal_tokens(record.response_body),
        status=record.status_code,
        content_type=record.content_type or "application/json",
    )
    response[REPLAYED_HEADER] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        key = request.META.get("HTTP_IDEMPOTENCY_KEY")
        if key is None or request.method != "POST":
            return self.get_response(request)
        try:
            route = resolve(request.path_info).url_name
        except Resolver404:
            return self.get_response(request)
        if route not in IDEMPOTENT_ROUTES:
            return self.get_response(request)
        if not _VALID_KEY.match(key):
            return _error(InvalidIdempotencyKey)
        try:
            scope = _scope(request, route)
        except DatabaseError:
            logger.exception("could not authenticate the owner of an idempotency key")
            return _unavailable()
        if scope is None:
            return self.get_response(request)
        return self._run(request, scope=scope, key=key)

    def _run(self, request, *, scope: str, key: str):
        try:
            with transaction.atomic():
                record = self._claim(request, scope=scope, key=key)
                if not isinstance(record, IdempotencyKey):
                    return record  # a replay or an error answer
                response = self.get_response(request)
                if not _storable(response):
                    transaction.set_rollback(True)  # the key stays free for a retry
                    return response
                record.status_code = response.status_code
                record.response_body = seal_tokens(response.content.decode())
                record.content_type = response.get("Content-Type", "application/json")
                record.save(update_fields=["status_code", "response_body", "content_type"])
                return response
        except DatabaseError:
            # The key, the work and the answer share one transaction: when any of it (the
            # commit included) fails, none of it is known to have happened, so the client is
            # told to retry, and its retry with the same key replays or executes exactly once.
            logger.exception("idempotent request failed in the database")
            return _unavailable()

    def _claim(self, request, *, scope: str, key: str):
        """Insert the key row, or answer from the row a previous request left."""
        current = fingerprint(request)
        for _ in range(2):
            try:
                with transaction.atomic():
                    record = IdempotencyKey.objects.create(
                        scope=scope, key=key, fingerprint=current, created_at=timezone.now()
                    )
                drop_oldest_keys(scope=scope)
                return record
            except IntegrityError:
                pass  # the key exists (the first request may have just committed)
            except OperationalError as exc:
                if not _timed_out(exc):
                    raise  # the database itself failed: answered 503 by _run
                # Waited on a first request still running past the statement timeout.
                return _error(IdempotencyKeyInUse)
            existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
            if existing is None:
                continue
            if existing.created_at < timezone.now() - settings.IDEMPOTENCY_KEY_TTL:
                existing.delete()
                continue
            if not _same_request(existing.fingerprint, request, current):
                return _error(IdempotencyKeyReused)
            if existing.status_code is None:
                return _error(IdempotencyKeyInUse)
            return _replay(existing)
        return _error(IdempotencyKeyInUse)


def drop_oldest_keys(*, scope: str, keep: int = MAX_KEYS_PER_SCOPE) -> int:
    """Delete the scope's keys beyond its newest `keep` (one statement); returns how many.

    Called after each new key, in its transaction. Concurrent new keys of one scope may each
    see the others as not yet there, so a burst can leave a few over the bound; the next new
    key trims them.
    """
    beyond = IdempotencyKey.objects.filter(scope=scope).order_by("-id").values("id")[keep:]
    return IdempotencyKey.objects.filter(id__in=beyond).delete()[0]


def purge_expired(*, now=None, batch: int = 10_000) -> int:
    """Delete keys older than the TTL, in batches; returns how many were deleted.

    The periodic job (hourly) and `manage.py purge_idempotency_keys` both call this.
    """
    cutoff = (now or timezone.now()) - settings.IDEMPOTENCY_KEY_TTL
    return delete_in_batches(IdempotencyKey.objects.filter(created_at__lt=cutoff), batch=batch)
