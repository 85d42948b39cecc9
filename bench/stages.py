"""The request stages of the profile (--profile), named by the application's own function objects."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType

from bench import ROOT
from bench.profiling import Stage


def request_stages() -> list[Stage]:
    """The stages in report order; the indented ones are parts of the service call.

    Imported rather than spelled as strings: a function renamed or moved in the app stops the
    bench at its start (ImportError, AttributeError) instead of its stage quietly reading 0%.
    Needs Django set up, since the app modules import their models.
    """
    from django.core.handlers.wsgi import WSGIHandler
    from django.db.backends.utils import CursorWrapper
    from django.db.transaction import Atomic
    from gunicorn.workers.gthread import ThreadWorker
    from rest_framework.response import Response
    from rest_framework.views import APIView

    from accounts.authentication import JWTAuthentication
    from analytics.services import roll_up_after_change
    from engagement.metrics import RequestMetricsMiddleware, count_after_change
    from engagement.middleware import RequestIDMiddleware
    from progression.services import lock_state, record_change
    from rewards.services import unlock_after_change

    return [
        Stage.of("JWT authentication (incl. its user query)", JWTAuthentication.authenticate),
        Stage.of("throttle check", APIView.check_throttles),
        Stage.of("the service call (transaction)", *service_modules()),
        Stage.of("  lock_state (SELECT ... FOR UPDATE)", lock_state),
        Stage.of("  record_change (UPDATE state, INSERT event)", record_change),
        Stage.of("  reward unlocking hook", unlock_after_change),
        Stage.of("  metrics counters hook (on commit)", count_after_change),
        Stage.of("  daily rollup hook (one UPSERT)", roll_up_after_change),
        Stage.of("  commit", Atomic.__exit__),
        Stage.of("response: serializers + JSON rendering", Response.rendered_content),
        Stage.of(
            "request metrics middleware (its own work)",
            RequestMetricsMiddleware.__call__,
            unless=(RequestIDMiddleware.__call__,),
        ),
        Stage.of("all SQL execution (CursorWrapper.execute*)", CursorWrapper._execute),
        Stage.of("gunicorn outside the WSGI app", ThreadWorker.handle, unless=(WSGIHandler.__call__,)),
    ]


def service_modules() -> list[ModuleType]:
    """Every project app's services module (STYLE.md habit 1), so a new app's services count too."""
    from django.apps import apps
    from django.utils.module_loading import module_has_submodule

    return [
        import_module(f"{config.name}.services")
        for config in apps.get_app_configs()
        if Path(config.path).is_relative_to(ROOT) and module_has_submodule(config.module, "services")
    ]
