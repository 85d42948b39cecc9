"""Probes and the JSON replacements for Django's own error pages."""

from __future__ import annotations

import logging

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularSwaggerSplitView

from engagement import cache, errors
from engagement.exceptions import json_error

logger = logging.getLogger("engagement.probes")
_readiness = {"migrations_verified": False}
# A probe must answer faster than an orchestrator's probe timeout, whatever the pool's own
# wait for a connection (DATABASE_POOL_TIMEOUT) is.
READINESS_DB_TIMEOUT = 2.0


class DocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its script served from this URL (?script) and its style from a file, so
    the page runs under a Content-Security-Policy without 'unsafe-inline'."""

    template_name = "engagement/swagger_ui.html"


@never_cache
@require_GET
def healthz(request):
    """Liveness: the process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _pending_migrations(connection) -> bool:
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    return bool(executor.migration_plan(targets))


@never_cache
@require_GET
def readyz(request):
    """Readiness: the database answers and every migration is applied, else 503.

    The body also says how the shared cache is: "ok", "degraded" (Redis does not answer) or
    "local" (no REDIS_URL: each process counts its own throttles).
    """
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        pool = getattr(connection, "pool", None)
        if pool is not None:
            pool.open()
            with pool.connection(timeout=READINESS_DB_TIMEOUT) as conn:
                conn.execute("SELECT 1")
        else:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        if not _readiness["migrations_verified"]:
            if _pending_migrations(connection):
                return json_error(errors.MigrationsPending())
            _readiness["migrations_verified"] = True  # applied migrations do not un-apply in a live process
    except Exception:
        logger.warning("readiness check failed: database unreachable", exc_info=True)
        return json_error(errors.DatabaseUnavailable())
    # The service runs without its cache (throttles let requests through), so a cache outage
    # is reported here but does not make the instance unready.
    return JsonResponse({"status": "ready", "cache": cache.status()})


def bad_request(request, exception=None):
    return json_error(errors.BadRequest())


def permission_denied(request, exception=None):
    return json_error(errors.PermissionDenied())


def not_found(request, exception=None):
    return json_error(errors.NotFound())


def server_error(request):
    return json_error(errors.InternalError())


def csrf_failure(request, reason=""):
    return json_error(errors.CsrfFailed())
