"""Webhook delivery throughput: N messages, K worker processes (manage.py run_worker), one receiver.

    make bench-webhooks                                   # 1,000 messages, 2 workers
    make bench-webhooks BENCH_ARGS="--messages 5000 --workers 3"

On BENCH_DATABASE_URL (kept) or a throwaway engagement_bench_webhooks database (dropped). The
messages are queued the way changes queue them (publish(), a job per change of
--per-change messages, committed); then the workers start, and the clock runs until every
message has a successful delivery recorded. The receiver is a thread of this process that
verifies every signature with the standardwebhooks library and answers 200.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from bench import ROOT
from bench.cpu import children_of, cpu_seconds
from bench.database import BenchDatabase, setup_django
from bench.processes import stop_process_group

DEFAULT_DATABASE = "postgres://postgres@127.0.0.1:5432/engagement_bench_webhooks"


def tree_cpu_seconds(pids: list[int]) -> float:
    """CPU seconds of these processes and every process under them (alive ones)."""
    total, seen, todo = 0.0, set(), list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        total += cpu_seconds(pid) or 0.0
        todo.extend(children_of(pid))
    return total


def queue_messages(count: int, per_change: int) -> None:
    """`count` messages, committed as changes commit them: a queued job per `per_change`."""
    from django.db import transaction
    from django.utils import timezone

    from webhooks import messages as wire
    from webhooks.services import publish

    now = timezone.now()
    run = f"bench-{int(time.time())}"
    for start in range(0, count, per_change):
        with transaction.atomic():
            for n in range(start, min(start + per_change, count)):
                data = {"user_id": None, "event_id": n, "deltas": {"loyalty": 1}, "note": "bench"}
                publish(type=wire.STATE_ADJUSTED, key=f"{run}-{n}", moment=now, data=data)


def start_workers(count: int, processes: int) -> list[subprocess.Popen]:
    env = {**os.environ, "WORKER_PROCESSES": str(processes), "WORKER_POLL_SECONDS": "0.05"}
    return [
        subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for _ in range(count)
    ]


def main(argv: list[str] | None = None) -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2, help="run_worker processes")
    parser.add_argument("--processes", type=int, default=2, help="WORKER_PROCESSES of each")
    parser.add_argument("--per-change", type=int, default=2, help="messages per queued change")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL") or None
    with BenchDatabase(url, keep=args.keep_db, default=DEFAULT_DATABASE) as database:
        setup_django(database.url, redis=False, WEBHOOK_ALLOW_INSECURE="true")
        from django.core.management import call_command
        from django.db import connection

        from engagement.testing import WebhookReceiver
        from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
        from webhooks.services import create_endpoint

        call_command("migrate", interactive=False, verbosity=0)
        WebhookEndpoint.objects.update(is_active=False)  # a kept database: only this run's endpoint
        with WebhookReceiver() as receiver:
            endpoint = create_endpoint(url=receiver.url)
            receiver.secret = endpoint.secret
            queue_messages(args.messages, args.per_change)
            connection.close()
            print(f"{args.messages} messages queued; starting {args.workers} worker(s)", flush=True)
            started = time.monotonic()
            workers = start_workers(args.workers, args.processes)
            try:
                delivered, deadline = 0, started + 600
                receiver.wait_for(lambda r: bool(r.received), timeout=120)
                first = time.monotonic()  # the workers are up
                while delivered < args.messages and time.monotonic() < deadline:
                    time.sleep(0.25)
                    delivered = WebhookDelivery.objects.filter(
                        endpoint=endpoint, status=DeliveryStatus.SUCCEEDED
                    ).count()
                    cpu = tree_cpu_seconds([w.pid for w in workers])
                done = time.monotonic()
                connection.close()
            finally:
                for worker in workers:
                    stop_process_group(worker)
            requests = len(receiver.received)
            unverified = sum(1 for r in receiver.received if not r.verified)
            unique = len({r.webhook_id for r in receiver.received})

        print(
            f"delivered {delivered}/{args.messages}: {delivered / (done - first):.0f} messages/s from the "
            f"first delivery ({done - first:.1f} s; {done - started:.1f} s with worker start-up); "
            f"{args.workers} worker(s) x {args.processes} processes; worker CPU {cpu:.1f} s "
            f"({cpu / max(delivered, 1) * 1000:.1f} ms per message, start-up included); "
            f"receiver: {requests} requests, {unique} distinct webhook-ids, {unverified} unverified"
        )
        return 0 if delivered == args.messages and requests == unique == delivered and not unverified else 1


if __name__ == "__main__":
    sys.exit(main())
