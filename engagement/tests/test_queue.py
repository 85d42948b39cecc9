"""The job queue's glue: jobs in the caller's transaction, a not-before time, the periodic jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task

from engagement.queue import SCHEDULE_PREFIX, enqueue, purge_failed_jobs, sync_schedules
from engagement.testing import queued_jobs

pytestmark = pytest.mark.django_db


def test_enqueue_when_transaction_rolls_back_then_no_job():
    with pytest.raises(RuntimeError), transaction.atomic():
        enqueue("math.floor", x=1.5)
        raise RuntimeError
    assert not OrmQ.objects.exists()
    enqueue("math.floor", x=1.5)
    (job,) = queued_jobs()
    assert (job["func"], job["kwargs"]) == ("math.floor", {"x": 1.5})


def test_enqueue_when_not_before_given_then_the_row_is_locked_until_then():
    later = timezone.now() + timedelta(minutes=5)
    enqueue("math.floor", x=1.5, not_before=later)
    (job,) = queued_jobs()
    assert job["not_before"] == later
    # django-q2's ORM broker hands out only rows whose lock has passed.
    assert not OrmQ.objects.filter(lock__lt=timezone.now()).exists()


def test_periodic_jobs_when_listed_then_idempotency_keys_hourly_and_deliveries_daily(settings):
    jobs = {job["func"]: job["every"] for job in settings.ENGAGEMENT_PERIODIC_JOBS}
    assert jobs["engagement.idempotency.purge_expired"] == "hourly"
    assert jobs["webhooks.services.purge_deliveries"] == "daily"


def test_sync_schedules_when_run_twice_then_one_row_per_job_and_next_run_kept(settings):
    now = timezone.now()
    first = sync_schedules(now=now)
    assert [s.name for s in first] == [
        SCHEDULE_PREFIX + job["name"] for job in settings.ENGAGEMENT_PERIODIC_JOBS
    ]
    hourly = Schedule.objects.get(func="engagement.idempotency.purge_expired")
    assert hourly.schedule_type == Schedule.HOURLY and hourly.repeats == -1
    assert hourly.next_run == now + timedelta(hours=1)  # not on every deploy
    sync_schedules(now=now + timedelta(minutes=30))  # a worker restarted
    assert Schedule.objects.count() == len(settings.ENGAGEMENT_PERIODIC_JOBS)
    assert Schedule.objects.get(pk=hourly.pk).next_run == hourly.next_run


def test_sync_schedules_when_a_job_leaves_the_list_then_its_row_goes_and_others_stay():
    Schedule.objects.create(name="an operator's own", func="math.floor", schedule_type=Schedule.DAILY)
    sync_schedules(
        [
            {"name": "a", "func": "math.floor", "every": "daily"},
            {"name": "b", "func": "math.ceil", "every": "minutes", "minutes": 5},
        ]
    )
    sync_schedules([{"name": "b", "func": "math.ceil", "every": "hourly"}])
    names = set(Schedule.objects.values_list("name", "schedule_type"))
    assert names == {("an operator's own", Schedule.DAILY), (SCHEDULE_PREFIX + "b", Schedule.HOURLY)}


def test_purge_failed_jobs_when_older_than_retention_then_deleted():
    now = timezone.now()
    for name, age in (("old", 31), ("recent", 2)):
        Task.objects.create(
            id=name.ljust(32, "0"),
            name=name,
            func="math.floor",
            started=now - timedelta(days=age),
            stopped=now - timedelta(days=age),
            success=False,
        )
    assert purge_failed_jobs(now=now) == 1
    assert list(Task.objects.values_list("name", flat=True)) == ["recent"]


@pytest.mark.postgres
def test_worker_connections_when_prepared_then_no_pool_and_asynchronous_commit():
    """What run_worker does to its process before forking (checked in a process of its own)."""
    import json

    from django.conf import settings

    from engagement.testing import current_database_url, environment_without, run_python

    script = (
        "import json, django; django.setup()\n"
        "from django.db import connection\n"
        "from engagement.queue import use_plain_connections\n"
        "use_plain_connections()\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SHOW synchronous_commit')\n"
        "    commit = cursor.fetchone()[0]\n"
        "print(json.dumps({'pool': connection.pool is not None, 'commit': commit,\n"
        "    'max_age': connection.settings_dict['CONN_MAX_AGE']}))\n"
    )
    env = environment_without(
        "DATABASE_",
        DATABASE_URL=current_database_url(),
        DJANGO_SETTINGS_MODULE="engagement.settings",
        DJANGO_SECRET_KEY=settings.SECRET_KEY,
        DJANGO_LOG_LEVEL="WARNING",
    )
    completed = run_python("-c", script, env=env, check=True, timeout=60)
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {"pool": False, "commit": "off", "max_age": 300}
