"""Gunicorn settings for production (the Dockerfile) and the benchmark, read from the environment.

    GUNICORN_BIND        address to listen on (default 0.0.0.0:$PORT, PORT default 8000)
    GUNICORN_WORKERS     worker processes (default: one per CPU core, at least 2)
    GUNICORN_THREADS     threads per worker (default 4; 1 selects the sync worker)
    GUNICORN_TIMEOUT     seconds a worker may be silent before it is restarted (default 30)
    GUNICORN_KEEPALIVE   seconds an idle keep-alive connection stays open (default 5)
    GUNICORN_MAX_REQUESTS  recycle a worker after this many requests, with jitter (default 0: never)
    GUNICORN_ACCESS_LOG  set to 1/true to write an access log line per request (default off)
    GUNICORN_LOG_LEVEL   gunicorn's own log level (default info)
    GUNICORN_CONTROL_SOCKET  path of gunicorn's control socket for gunicornc (default: none)
    NUM_PROXIES          the app's count of trusted proxies: 0 (the default) trusts no client's
                         X-Forwarded-Proto; more trusts the proxy's (FORWARDED_ALLOW_IPS narrows it)

Gunicorn must not face the internet directly: it gives each connection a thread from the
moment it starts sending, so slow clients can hold them all. Put a buffering proxy in front
(docker-compose.yml runs nginx; docker/nginx.conf). What gunicorn can do itself is bound here:
request line and header sizes (limit_request_*), and, through the app, the time a request
body may take (REQUEST_BODY_TIMEOUT, engagement/serving.py).

    PROMETHEUS_MULTIPROC_DIR  where workers keep their metrics (default: a directory made for
                         this server under /dev/shm, removed when it stops); see below

Gunicorn's error log and access log go to stdout (logconfig_dict below), where a container
runtime collects them. The application is CPU-bound Python in front of a connection pool: a
few processes for the cores, a few threads each to overlap database round trips. Keep
DATABASE_POOL_MAX_SIZE >= threads, since each busy thread holds one pooled connection for the
length of its request.
"""

import os
import shutil
import tempfile

from engagement.serving import (
    gunicorn_logger_class,
    install_gunicorn_json_error_pages,
    remember_gunicorn_request,
)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


def _env_bool(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


_cores = os.cpu_count() or 1

bind = os.environ.get("GUNICORN_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = _env_int("GUNICORN_WORKERS", max(2, _cores))
threads = _env_int("GUNICORN_THREADS", 4)
# gthread keeps client connections alive between requests; sync closes each one.
worker_class = "gthread" if threads > 1 else "sync"

timeout = _env_int("GUNICORN_TIMEOUT", 30)
# A request line or a header past these sizes is refused (414, 431) before the app runs.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10

# The heartbeat file lives in memory: a container's overlay filesystem can stall it.
_SHARED_MEMORY = "/dev/shm"  # noqa: S108 (gunicorn's documented choice in containers)
if os.path.isdir(_SHARED_MEMORY):
    worker_tmp_dir = _SHARED_MEMORY

loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
_access_log = _env_bool("GUNICORN_ACCESS_LOG")
# Address, time, method, path without its query string (%(U)s: a token put in "?token=" never
# reaches the log), protocol, status, bytes, duration, user agent. No referrer (another URL
# with a query string) and no %(u)s (a Basic auth user name).
access_log_format = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'

# X-Forwarded-Proto (and gunicorn's other secure-scheme headers) is believed only from a proxy
# the app is told about: with NUM_PROXIES=0, from nobody (gunicorn's default trusts loopback,
# so a local client could claim https); with a proxy, from the peer, which is the proxy since
# gunicorn is only reachable through it. FORWARDED_ALLOW_IPS, when set, lists the proxies.
_num_proxies = _env_int("NUM_PROXIES", 0)
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "").strip() or ("*" if _num_proxies > 0 else "")

# The app sees the gunicorn request it serves, to close the connection after an answer that
# leaves the body unread (408, 411, 413); gunicorn's own error pages speak the API's JSON.
pre_request = remember_gunicorn_request
install_gunicorn_json_error_pages()
# Gunicorn's own line formats, written to stdout instead of its default stderr for the error log.
# gunicorn.error has no level here: gunicorn sets it from loglevel (or --log-level). Any
# logconfig_dict turns gunicorn's access path on, so an access log that is off is a logger that
# drops every line (at WARNING); logger_class skips gathering each line's fields for it (4% of a
# `GET me/`'s CPU, engagement.serving.gunicorn_logger_class).
# The root logger gets no handler (gunicorn's default config would give the master one); the
# app configures its own in each worker (settings.LOGGING), and gunicorn's loggers do not
# propagate to it.
logger_class = gunicorn_logger_class()
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "error": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
        },
        "access": {"format": "%(message)s"},
    },
    "handlers": {
        "error_stdout": {
            "class": "logging.StreamHandler",
            "formatter": "error",
            "stream": "ext://sys.stdout",
        },
        "access_stdout": {
            "class": "logging.StreamHandler",
            "formatter": "access",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"handlers": ["error_stdout"], "propagate": False},
        "gunicorn.access": {
            "handlers": ["access_stdout"] if _access_log else [],
            "level": "INFO" if _access_log else "WARNING",
            "propagate": False,
        },
    },
    "root": {"handlers": []},
}

# The control socket (gunicornc) is off unless given a path: its default lives in $HOME and
# would be shared by every gunicorn the same user runs on the host.
_control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "").strip()
if _control_socket:
    control_socket = _control_socket
else:
    control_socket_disable = True


# Prometheus metrics across workers (engagement/metrics.py). Each worker is a process of its own,
# so prometheus_client keeps every worker's values in files under PROMETHEUS_MULTIPROC_DIR, and a
# scrape of /metrics, whichever worker answers it, adds them all up. The variable is set here, in
# the master, before any worker imports the app (prometheus_client reads it on import). Without
# one from the environment, a directory is made for this server (in memory when /dev/shm exists)
# and removed when it stops. Its files are deleted when the server starts: values of an earlier
# run must not count. When a worker exits, its live gauges (pool use) go with it; its counters
# stay, so that a scrape's totals never go down.
_METRICS_DIR_MADE = "ENGAGEMENT_METRICS_DIR_MADE"  # the directory made here, to remove on exit
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_parent = _SHARED_MEMORY if os.path.isdir(_SHARED_MEMORY) else None
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="engagement-metrics-", dir=_metrics_parent
    )
    os.environ[_METRICS_DIR_MADE] = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def post_worker_init(worker):
    """Hide what the worker has loaded (Django, the app, their modules) from the garbage collector.

    Python's full collection walks every tracked object; in a worker that is the whole of
    Django and the app, about 40-50 ms of CPU with the GIL held, so each one stalls every
    thread of the worker at once, about once per 1,500 check-ins (measured in-process). Frozen
    objects are never walked again: later full collections see only what requests created.
    """
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    made = os.environ.get(_METRICS_DIR_MADE)
    if made and made == os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(made, ignore_errors=True)
