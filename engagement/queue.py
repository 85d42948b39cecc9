"""The job queue (django-q2 on its ORM broker): enqueueing in the caller's transaction, periodic jobs.

A job is a row of django-q2's queue table written with the default database connection, so a
job enqueued inside transaction.atomic() commits or rolls back with the change that enqueued
it; that row is the outbox. Workers (`manage.py run_worker`, django-q2's cluster) hand each row
to one process at a time: a claim is a conditional UPDATE of the row's `lock` column (the
time until which no other worker may take it), so workers on any number of hosts never run a
job twice while it is being worked on, and a job whose worker died is handed out again once
its lock expires (Q_CLUSTER["retry"]): at-least-once.

The periodic jobs are the list settings.ENGAGEMENT_PERIODIC_JOBS; run_worker writes them into
django-q2's schedule table on start (sync_schedules), where the cluster's scheduler fires each
one once per period whatever the number of workers.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone
from django_q.conf import Conf
from django_q.humanhash import uuid
from django_q.models import OrmQ, Schedule, Task
from django_q.signals import pre_enqueue
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from engagement.db import delete_in_batches, insert_later

# Our rows in django-q2's schedule table carry this prefix, so sync_schedules() can remove the
# ones no longer listed without touching schedules an operator added in the admin.
SCHEDULE_PREFIX = "engagement: "
_SCHEDULE_TYPES = {
    "minutes": Schedule.MINUTES,
    "hourly": Schedule.HOURLY,
    "daily": Schedule.DAILY,
    "weekly": Schedule.WEEKLY,
}
_PERIODS = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
# Any fixed number: a transaction-scoped PostgreSQL advisory lock serializing sync_schedules().
_SCHEDULE_LOCK_ID = 7_201_312


def _insert_job(key: str, package: str, *, lock: datetime) -> None:
    """A row of django-q2's queue table (its ORM broker's): `lock` is the time before which no
    worker takes the job (the broker sets it to now + retry when it hands a job out). Held
    back to the end of a change's pipeline when called in one (engagement.db.writes_together)."""
    insert_later(OrmQ(key=key, payload=package, lock=lock))


def enqueue(func: str, *, not_before: datetime | None = None, **kwargs) -> str:
    """Queue `func(**kwargs)` (a dotted path) for the workers; returns the job id.

    One INSERT on the default connection: inside transaction.atomic() the job exists only if
    the transaction commits. Arguments must be plain data (they are pickled and signed with
    DJANGO_SECRET_KEY).

    The job is django-q2's own package (what its async_task builds: id, name, func, args,
    kwargs, started and the cluster's defaults, signed by its SignedPackage), written with one
    pre-built INSERT (engagement.db.insert_row) instead of async_task's broker lookup and ORM
    create: the outbox job is written on every change (2,000 enqueues in one transaction: 285
    -> 250 µs of CPU each). django-q2's synchronous mode (Q_CLUSTER["sync"]) still goes
    through async_task, which runs the job at once (not_before does not apply there).
    """
    if Conf.SYNC:
        return async_task(func, **kwargs)
    name, job_id = uuid()
    now = timezone.now()
    task = {"id": job_id, "name": name, "func": func, "args": (), "kwargs": kwargs, "started": now}
    if Conf.CACHED:
        task["cached"] = Conf.CACHED
    if Conf.ACK_FAILURES:
        task["ack_failure"] = Conf.ACK_FAILURES
    pre_enqueue.send(sender="django_q", task=task)
    _insert_job(Conf.CLUSTER_NAME, SignedPackage.dumps(task), lock=not_before or now)
    return job_id


def use_plain_connections() -> None:
    """Make this process open its own database connections, without the psycopg pool.

    django-q2 forks its worker processes: a pool (its threads and open sockets) must not cross
    a fork, so each worker process keeps one persistent connection of its own instead. It is
    not checked before every job (django-q2 closes connections around each job, and a check
    is a round trip per job): a job that meets a dead connection fails, and is handed out
    again. Call before the process touches the database.

    On PostgreSQL the worker's sessions also commit without waiting for the WAL flush
    (synchronous_commit off): a database crash can lose the last few hundred milliseconds of
    the worker's commits, but only as a suffix of the log, so what it loses (attempts recorded,
    retries queued, jobs acknowledged) is redone, never skipped: a job whose acknowledgement
    is lost runs again. The changes and their outbox rows (the API's sessions) stay synchronous.
    """
    for alias in connections:
        conn = connections[alias]
        options = conn.settings_dict.setdefault("OPTIONS", {})
        if options.pop("pool", None) is not None:
            conn.close_pool()  # type: ignore[attr-defined]  # PostgreSQL's wrapper has it
            conn.settings_dict["CONN_MAX_AGE"] = 300
            conn.settings_dict["CONN_HEALTH_CHECKS"] = False
        if conn.vendor == "postgresql":
            options["options"] = f"{options.get('options', '')} -c synchronous_commit=off".strip()
        conn.close()


def sync_schedules(jobs: list[dict] | None = None, *, now: datetime | None = None) -> list[Schedule]:
    """Make django-q2's schedule table hold exactly the periodic jobs listed in settings.

    Idempotent, and safe when several workers start together (one at a time, under a lock).
    A job keeps its next run when it is already scheduled the same way, so restarting workers
    never postpones it.
    """
    jobs = settings.ENGAGEMENT_PERIODIC_JOBS if jobs is None else jobs
    now = now or timezone.now()
    schedules = []
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEDULE_LOCK_ID])
        names = []
        for job in jobs:
            name = SCHEDULE_PREFIX + job["name"]
            names.append(name)
            wanted = {
                "func": job["func"],
                "schedule_type": _SCHEDULE_TYPES[job["every"]],
                "minutes": job.get("minutes"),
                "repeats": -1,
            }
            schedule = Schedule.objects.filter(name=name).order_by("pk").first()
            if schedule is None:
                # The first run is one period from now: a deploy does not purge on every start.
                period = _PERIODS.get(job["every"]) or timedelta(minutes=int(job.get("minutes") or 1))
                schedule = Schedule(name=name, next_run=now + period)
            elif all(getattr(schedule, field) == value for field, value in wanted.items()):
                schedules.append(schedule)
                continue
            for field, value in wanted.items():
                setattr(schedule, field, value)
            schedule.full_clean()
            schedule.save()
            schedules.append(schedule)
        Schedule.objects.filter(name__startswith=SCHEDULE_PREFIX).exclude(
            pk__in=[s.pk for s in schedules]
        ).delete()
    return schedules


def purge_failed_jobs(*, now: datetime | None = None, batch: int = 10_000) -> int:
    """Delete the records of failed jobs older than WEBHOOK_DELIVERY_RETENTION; returns how many."""
    cutoff = (now or timezone.now()) - settings.WEBHOOK_DELIVERY_RETENTION
    return delete_in_batches(Task.objects.filter(stopped__lt=cutoff), batch=batch)


def queue_depth_metrics():
    """Scrape-time collector (settings.ENGAGEMENT_METRICS_COLLECTORS): engagement_job_queue_depth.

    Jobs in the queue table by queue name: waiting, being run, or held back until a retry's
    time. One aggregate over the (small) queue table; every process and host answers the same.
    """
    from django.db.models import Count

    from engagement.metrics import job_queue_depth

    depths = dict(OrmQ.objects.order_by().values_list("key").annotate(jobs=Count("id")))
    yield job_queue_depth({Conf.CLUSTER_NAME: 0, **depths})
