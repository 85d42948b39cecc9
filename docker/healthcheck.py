"""Container health check: exit 0 when the app's /readyz answers 200, else 1 (Docker's HEALTHCHECK).

Standard library only, so it needs nothing beyond the interpreter. It asks the server on the
loopback interface, at the port gunicorn.conf.py binds (the port of GUNICORN_BIND, else PORT,
else 8000), and sends a Host header the app accepts, since Django answers 400 to any other:
the first DJANGO_ALLOWED_HOSTS entry, its leading dot stripped (".example.com" allows
example.com), with "*" or nothing meaning localhost. /readyz is exempt from the HTTPS
redirect, so plain HTTP is enough; a redirect or any other status counts as not ready.
"""

import http.client
import os
import sys
from collections.abc import Mapping

READY_PATH = "/readyz"
DEFAULT_PORT = 8000
TIMEOUT_SECONDS = 2


def host_header(allowed_hosts: str) -> str:
    """The Host to send: the first allowed host, as a name Django's ALLOWED_HOSTS matches."""
    first = allowed_hosts.split(",", maxsplit=1)[0].strip().lstrip(".")
    return "localhost" if first in {"", "*"} else first


def server_port(environ: Mapping[str, str]) -> int:
    """The port gunicorn listens on: GUNICORN_BIND's ("0.0.0.0:8000", "[::]:8000"), else PORT."""
    bind = environ.get("GUNICORN_BIND", "").strip()
    if bind:
        _, colon, port = bind.rpartition(":")
        return int(port) if colon and port.isdigit() else DEFAULT_PORT
    port = environ.get("PORT", "").strip()
    return int(port) if port.isdigit() else DEFAULT_PORT


def main() -> int:
    host = host_header(os.environ.get("DJANGO_ALLOWED_HOSTS", ""))
    port = server_port(os.environ)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", READY_PATH, headers={"Host": host})
        response = connection.getresponse()
        body = response.read(500).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:  # refused, timed out, garbled: not ready
        print(f"{READY_PATH} on port {port}: {exc}")
        return 1
    finally:
        connection.close()
    if response.status != 200:
        print(f"{READY_PATH} on port {port} (Host: {host}): {response.status} {body}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
