"""Sending one signed message over HTTP, and the guard that keeps it off internal networks (SSRF).

An endpoint URL must be https and its host must resolve only to public addresses: never
loopback, private, link-local (169.254.169.254, the cloud metadata service), unspecified,
multicast or reserved ones, IPv4-mapped forms included. The URL is checked when an endpoint is
created, and the host is resolved again for every connection, which then goes to an address
that passed the check (a DNS answer that changes between the check and the connection, DNS
rebinding, cannot redirect it). settings.WEBHOOK_ALLOW_INSECURE=true lifts both rules (tests
and local development). Redirects are not followed: a 3xx is a failed attempt.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast
from urllib.parse import urlsplit

import httpcore
from django.conf import settings
from standardwebhooks.webhooks import Webhook

USER_AGENT = "engagement-webhooks/1"
# The receiver's answer is not kept beyond this; a longer body closes the connection.
MAX_RESPONSE_BYTES = 64 * 1024


class UnsafeTarget(ValueError):
    """The URL or an address its host resolves to is not allowed (see the module docstring)."""


def insecure_allowed() -> bool:
    return bool(settings.WEBHOOK_ALLOW_INSECURE)


def _address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, each checked unless insecure targets are allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeTarget(f"{host} does not resolve: {exc.strerror}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not insecure_allowed():
        refused = [address for address in addresses if not _address_is_public(address)]
        if refused:
            raise UnsafeTarget(f"{host} resolves to a non-public address ({', '.join(refused)})")
    return addresses


def check_url(url: str, *, resolve_host: bool = True) -> None:
    """Refuse a URL an endpoint must not have (UnsafeTarget says why)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeTarget("The URL must be an absolute https:// URL.")
    if parts.username or parts.password:
        raise UnsafeTarget("The URL must not carry credentials.")
    if insecure_allowed():
        return
    if parts.scheme != "https":
        raise UnsafeTarget("The URL must use https (http only with WEBHOOK_ALLOW_INSECURE=true).")
    if resolve_host:
        resolve(parts.hostname, parts.port or 443)


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's network backend, connecting only to addresses that pass the guard."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        # A request goes out as two writes (headers, body): without TCP_NODELAY the body waits
        # for the receiver's delayed ACK of the headers, 40 ms on Linux, on every delivery.
        socket_options = [*(socket_options or ()), (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
        last_error: Exception | None = None
        for address in resolve(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address to connect to for {host}")


@dataclass(frozen=True)
class Attempt:
    """What one HTTP attempt came to: a status code, or an error before any answer."""

    status_code: int | None
    duration_ms: int
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


_pool: tuple[int, httpcore.ConnectionPool] | None = None


def connection_pool() -> httpcore.ConnectionPool:
    """This process's keep-alive connections (made again after a fork)."""
    global _pool  # noqa: PLW0603 - one pool per process
    if _pool is None or _pool[0] != os.getpid():
        _pool = (
            os.getpid(),
            httpcore.ConnectionPool(
                network_backend=GuardedBackend(), max_connections=20, keepalive_expiry=30
            ),
        )
    return _pool[1]


def sign_headers(*, secret: str, message_id: str, body: str, now: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: webhook-id, webhook-timestamp, webhook-signature."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now.astimezone(UTC), body),
    }


def post(*, url: str, secret: str, message_id: str, body: str, timeout: float) -> Attempt:
    """POST the signed body once; never raises for what the network or the receiver does.

    The whole attempt (resolving, connecting, sending, reading the answer) must finish within
    `timeout` seconds.
    """
    started = time.monotonic()
    deadline = started + timeout

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        check_url(url, resolve_host=False)  # the host is checked on connecting
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **sign_headers(secret=secret, message_id=message_id, body=body, now=datetime.now(UTC)),
        }
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        with connection_pool().stream(
            "POST",
            url,
            headers=cast("dict[str | bytes, str | bytes]", headers),
            content=body.encode(),
            extensions={"timeout": limits},
        ) as response:
            received = 0
            for chunk in response.iter_stream():
                received += len(chunk)
                if received > MAX_RESPONSE_BYTES or time.monotonic() > deadline:
                    break
        if time.monotonic() > deadline:
            return Attempt(None, elapsed_ms(), f"no complete answer within {timeout:g} s")
        return Attempt(response.status, elapsed_ms())
    except UnsafeTarget as exc:
        return Attempt(None, elapsed_ms(), str(exc))
    except httpcore.TimeoutException as exc:
        return Attempt(None, elapsed_ms(), f"timeout: {type(exc).__name__}")
    except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
        return Attempt(None, elapsed_ms(), f"{type(exc).__name__}: {exc}"[:500])
