"""The admin's engagement overview at scale: its load time through gunicorn, and its queries' times.

Runs in the orchestrator's Django process, on the bench database, after the scale seed. A staff
user is logged in with Django's test client (a session row the server reads); the page is then
fetched from gunicorn like a browser would, several times; each query the page runs is timed
once more in this process.
"""

from __future__ import annotations

import re
import statistics
import time
import urllib.request
import uuid

RUNS = 5
_COMPUTED = re.compile(r"computed in (\d+) ms")


def measure_overview(base_url: str, *, runs: int = RUNS) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import User
    from analytics.forms import PeriodForm
    from analytics.overview import build_charts

    staff = User.objects.create_user(
        email=f"overview-{uuid.uuid4().hex[:8]}@bench.invalid", password=None, is_staff=True
    )
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(staff)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    loads_ms, computed_ms = [], []
    for _ in range(runs):
        request = urllib.request.Request(  # noqa: S310 - our own server, over http
            f"{base_url}/admin/overview/", headers={"Cookie": cookie}
        )
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - our own server
            body = response.read().decode()
            status = response.status
        loads_ms.append((time.perf_counter() - started) * 1000)
        if status != 200 or 'role="img"' not in body:
            raise RuntimeError(f"the overview answered {status} without its charts")
        found = _COMPUTED.search(body)
        computed_ms.append(int(found.group(1)) if found else None)

    with CaptureQueriesContext(connection) as captured:
        build_charts(PeriodForm.default_period(timezone.now().date()))
    queries = [
        {"ms": round(float(q["time"]) * 1000, 1), "sql": q["sql"][:160]} for q in captured.captured_queries
    ]
    connection.close()
    return {
        "runs": runs,
        "load_ms": [round(ms, 1) for ms in loads_ms],
        "load_ms_median": round(statistics.median(loads_ms), 1),
        "charts_ms": computed_ms,
        "queries": queries,
    }
