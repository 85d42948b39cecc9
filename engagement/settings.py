"""Django settings, read from the environment (12-factor); see README "Configuration"."""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-development-key-" + "x" * 40)
else:
    try:
        SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    except ImproperlyConfigured as exc:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is false.") from exc

ALLOWED_HOSTS = env.list(
    "DJANGO_ALLOWED_HOSTS",
    default=["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [],
)

INSTALLED_APPS = [
    "engagement.apps.EngagementAdminConfig",  # django.contrib.admin, with the overview page
    # Before django.contrib.auth: its changepassword command (which also ends the user's
    # sessions) replaces Django's.
    "accounts",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_q",
    "engagement",
    "progression",
    "inventory",
    "rewards",
    "leaderboards",
    "analytics",
    "webhooks",
]

MIDDLEWARE = [
    # First, so the latency it records covers every other middleware and the status is final.
    "engagement.metrics.RequestMetricsMiddleware",
    "engagement.middleware.RequestIDMiddleware",
    "engagement.middleware.JSONErrorMiddleware",
    # Before anything asks for the host: a bad Host is one WARNING line, not an ERROR traceback.
    "engagement.middleware.AllowedHostMiddleware",
    # The security headers (nosniff, HSTS, X-Frame-Options) reach every answer below them,
    # the body cap's 408/411/413 included.
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "engagement.middleware.CSPMiddleware",  # django-csp; see its docstring
    "engagement.middleware.BodySizeLimitMiddleware",
    "engagement.middleware.StaticFilesMiddleware",  # WhiteNoise; see its docstring
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    # After the security and host checks, so a replay gets them too and a redirect never
    # reaches the key store.
    "engagement.idempotency.IdempotencyMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Last, as django-axes requires: turns a locked-out admin login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

# A POST to a path without its trailing slash gets a JSON 404, not a redirect that loses the body.
APPEND_SLASH = False

ROOT_URLCONF = "engagement.urls"
WSGI_APPLICATION = "engagement.wsgi.application"
ASGI_APPLICATION = "engagement.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# SQLite is the embedded default for a first run; PostgreSQL is production.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    )
}
_db = DATABASES["default"]
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, which serializes writers the way
    # select_for_update() does on PostgreSQL.
    _db.setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
elif _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with a pool health check that needs no round trip (see its docstring).
    _db["ENGINE"] = "engagement.postgresql"
    _db["CONN_MAX_AGE"] = 0  # the pool owns connection reuse
    # The pool checks a connection before handing it out (its socket; an empty statement only
    # when the server sent something), so sessions killed by a database restart or failover
    # never reach a request.
    _db["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_HEALTH_CHECKS", default=True)
    _db.setdefault("OPTIONS", {}).update(
        {
            "pool": {
                "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
                "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=20),
                "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
            },
            # Parameters go to the server apart from the SQL (libpq's extended protocol, unnamed
            # statements), dumped by psycopg's C adapters, instead of quoted into the text in
            # Python: 9% less CPU per check-in, 4% per buy or use (alternating in-process runs).
            "server_side_binding": env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
        }
    )
    # Behind PgBouncer in transaction mode (DATABASE_PGBOUNCER=true) each transaction may run on
    # another server session: no server-side cursors (.iterator() would open one that the next
    # statement cannot find), no prepared statements (psycopg's prepare_threshold=None, Django's
    # default, kept explicit), and no startup `options`, which PgBouncer refuses: set
    # statement_timeout on the database instead (ALTER DATABASE ... SET statement_timeout).
    DATABASE_PGBOUNCER = env.bool("DATABASE_PGBOUNCER", default=False)
    if DATABASE_PGBOUNCER:
        _db["DISABLE_SERVER_SIDE_CURSORS"] = True
        _db["OPTIONS"]["prepare_threshold"] = None
    else:
        _db["OPTIONS"]["options"] = (
            f"-c statement_timeout={env.int('DATABASE_STATEMENT_TIMEOUT_MS', default=5000)}"
        )
del _db

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ATOMIC_REQUESTS = False  # services own their transactions

# --- Cache --------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # A host that does not answer must not hold a request for the operating system's
                # connect timeout (minutes), nor a Redis that accepts but never replies forever;
                # either counts as an outage (engagement/cache.py). A reply gets more time than a
                # connection: a busy Redis that is merely slow keeps counting.
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 2.0,
            },
            "KEY_PREFIX": "engagement",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Accounts and passwords ---------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out admin login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The admin login's brute-force protection (accounts/lockout.py): 5 failures lock the email
# (whatever the address) and the address (an IPv6 one by /64) for 15 minutes.
AXES_ONLY_ADMIN_SITE = True
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_HANDLER = "accounts.lockout.AdminLoginHandler"
AXES_USERNAME_CALLABLE = "accounts.lockout.admin_username"
AXES_CLIENT_IP_CALLABLE = "engagement.throttling.client_ident"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
AXES_VERBOSE = False  # the request log already has each answer
# Development only: `X-User-Id: <id>` logs in without a token (accounts.authentication). Never
# installed outside DEBUG; the system check engagement.E001 stops a process that asks for it there.
DEV_AUTH_HEADER_REQUESTED = env.bool("DEV_AUTH_HEADER", default=False)
DEV_AUTH_HEADER = DEBUG and DEV_AUTH_HEADER_REQUESTED
# Argon2id at OWASP's minimum (accounts/hashers.py); a hash stored with other Argon2 parameters
# is re-hashed with these on the next login.
PASSWORD_HASHERS = [
    "accounts.hashers.OWASPArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}
# Production serves the collected files (collectstatic: the image build, `make run` without
# DEBUG); engagement.middleware.StaticFilesMiddleware falls back to the apps' own directories
# where they were never collected. DEBUG always reads them from the apps.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_MANIFEST_STRICT = False

# --- Request limits -----------------------------------------------------------
MAX_REQUEST_BODY_BYTES = env.int("MAX_REQUEST_BODY_BYTES", default=100 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_REQUEST_BODY_BYTES
# Seconds a request body may take to arrive in full (engagement.serving), else 408.
REQUEST_BODY_TIMEOUT = env.float("REQUEST_BODY_TIMEOUT", default=10.0)

# --- Idempotency-Key ----------------------------------------------------------
IDEMPOTENCY_KEY_TTL = timedelta(hours=24)
# Live keys kept per scope (a user, or a client IP for register); older ones are dropped.
IDEMPOTENCY_MAX_KEYS = 1_000

# --- Security -----------------------------------------------------------------
NUM_PROXIES = env.int("NUM_PROXIES", default=0)
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and scrapes reach the container directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
if NUM_PROXIES > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_HSTS_SECONDS = 0 if DEBUG else env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "engagement.views.csrf_failure"

# --- Metrics (GET /metrics; engagement/metrics.py) ----------------------------------------------
# With a token, a scrape needs "Authorization: Bearer <METRICS_TOKEN>"; without one, only
# loopback clients are answered.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Called on every scrape, each returning prometheus_client metric families read from the
# database (so every worker and host answers the same): fn() -> Iterable[Metric].
ENGAGEMENT_METRICS_COLLECTORS = [
    "analytics.metrics.webhook_deliveries",  # engagement_webhook_deliveries_total{result}
    "engagement.queue.queue_depth_metrics",  # engagement_job_queue_depth{queue}
]

# Content-Security-Policy (django-csp) on every page the server renders: the admin, the
# Swagger UI (engagement.views.DocsView, no inline script or style) and error pages. Nothing
# but this origin; no inline code; no framing. The JSON API needs none and is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/v1/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.JWTAuthentication"]
    + (["accounts.authentication.DevHeaderAuthentication"] if DEV_AUTH_HEADER else []),
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["engagement.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "engagement.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "engagement.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "engagement.throttling.AnonRateThrottle",
        "engagement.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "register": env.str("THROTTLE_REGISTER", default="5/min"),
        "login": env.str("THROTTLE_LOGIN", default="10/min"),
        # Failed logins per account, from any address (engagement.throttling.AccountLoginThrottle).
        "login_account": env.str("THROTTLE_LOGIN_ACCOUNT", default="10/15min"),
        "user": env.str("THROTTLE_USER", default="600/min"),
        "anon": env.str("THROTTLE_ANON", default="60/min"),
    },
    "NUM_PROXIES": NUM_PROXIES,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "CHECK_REVOKE_TOKEN": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Stateful Engagement Backend API",
    "DESCRIPTION": (
        "Daily check-ins, streaks, energy, fatigue, loyalty and levels; tools bought "
        "with loyalty; rewards that unlock by rule. Every error has the shape "
        '`{"error": {"code", "message", "fields?"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "engagement.schema.add_idempotency_header",
        "engagement.schema.document_common_errors",
        "engagement.schema.require_constrained_bodies",
    ],
    # A path parameter states what its converter matches; anything else is a 404.
    "PATH_CONVERTER_OVERRIDES": {"slug": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"}},
    "ENUM_NAME_OVERRIDES": {
        "EventKindEnum": "progression.models.EventKind",
        "RewardConditionEnum": "rewards.models.Condition",
        "RewardStatusEnum": ["locked", "unlocked", "claimed"],
    },
}

# --- Domain rules: every number of the rules lives here ------------------
ENGAGEMENT = {
    "ENERGY_START": 50,
    "ENERGY_MAX": 100,
    "FATIGUE_MAX": 100,
    "CHECKIN_ENERGY_GAIN": env.int("ENGAGEMENT_CHECKIN_ENERGY_GAIN", default=20),
    "CHECKIN_FATIGUE_GAIN": env.int("ENGAGEMENT_CHECKIN_FATIGUE_GAIN", default=10),
    "CHECKIN_LOYALTY_GAIN": env.int("ENGAGEMENT_CHECKIN_LOYALTY_GAIN", default=5),
    "REST_RECOVERY_PER_DAY": env.int("ENGAGEMENT_REST_RECOVERY_PER_DAY", default=10),
    "LEVEL_MULTIPLIER_STEP": env.str("ENGAGEMENT_LEVEL_MULTIPLIER_STEP", default="0.05"),
    "LEVEL_MULTIPLIER_MAX": env.str("ENGAGEMENT_LEVEL_MULTIPLIER_MAX", default="1.5"),
    "INVENTORY_CAPACITY": env.int("ENGAGEMENT_INVENTORY_CAPACITY", default=5),
    # Local days and streak protection (README "Local days and streak protection").
    "SETTINGS_CHANGE_INTERVAL_DAYS": env.int("ENGAGEMENT_SETTINGS_CHANGE_INTERVAL_DAYS", default=7),
    "SETTINGS_CHANGE_GRACE_HOURS": env.int("ENGAGEMENT_SETTINGS_CHANGE_GRACE_HOURS", default=48),
    "PAUSE_MAX_DAYS": env.int("ENGAGEMENT_PAUSE_MAX_DAYS", default=14),
    "PAUSE_INTERVAL_DAYS": env.int("ENGAGEMENT_PAUSE_INTERVAL_DAYS", default=30),
    "REPAIR_WINDOW_DAYS": env.int("ENGAGEMENT_REPAIR_WINDOW_DAYS", default=3),
    "REPAIR_PRICE": env.int("ENGAGEMENT_REPAIR_PRICE", default=50),
    "FREEZE_PRICE": env.int("ENGAGEMENT_FREEZE_PRICE", default=25),
    "FREEZE_MAX_HELD": env.int("ENGAGEMENT_FREEZE_MAX_HELD", default=2),
}

# What runs after every recorded state change, in this order, inside the change's transaction
# with the user's lock held (read it like MIDDLEWARE). Each entry is called as
# consumer(state=<locked UserState>, change=<progression.changes.ChangeResult>) and returns a
# progression.changes.AfterChangeOutcome; later consumers see what earlier ones added.
ENGAGEMENT_AFTER_CHANGE = [
    "rewards.services.unlock_after_change",  # unlock rewards; auto-claim them (reward_claim events)
    # Leaderboard scores: one UPSERT for every board the change's events touch (claims included).
    "leaderboards.services.score_after_change",
    # Then the outbox: the change's webhook messages as one queued job (it sees every event).
    "webhooks.services.enqueue_after_change",
    "engagement.metrics.count_after_change",  # Prometheus domain counters, once the change commits
    # The overview's daily rollup: one UPSERT. Keep it last: it must see every event of the
    # change, and the counter rows it updates stay locked until the commit.
    "analytics.services.roll_up_after_change",
]

# Takes streak freezes out of a user's inventory when a check-in consumes them (the inventory
# app sits above progression): called as consumer(state=<locked UserState>, count=<n>).
ENGAGEMENT_CONSUME_FREEZES = "inventory.services.consume_freezes"

# The charts of the admin's engagement overview, in page order (analytics/overview.py): each
# is called as provider(period=<analytics.overview.Period>) and returns an overview.Chart.
ENGAGEMENT_OVERVIEW_CHARTS = [
    "analytics.overview.daily_activity",
    "analytics.overview.registrations",
    "analytics.overview.retention",
    "analytics.overview.streaks",
    "analytics.overview.loyalty",
    "analytics.overview.tools",
    "analytics.overview.webhook_deliveries",
]

# --- Job queue (django-q2, ORM broker) and periodic jobs -------------------------
# README "Job queue". A job is a row in the database, enqueued in the caller's transaction;
# `manage.py run_worker` runs them. A job handed to a worker that does not acknowledge it
# within WORKER_RETRY_SECONDS (it died) is handed out again; a job running longer than half
# of that is stopped (and so handed out again).
WORKER_RETRY_SECONDS = env.int("WORKER_RETRY_SECONDS", default=60)
Q_CLUSTER = {
    "name": "engagement",
    "orm": "default",
    "workers": env.int("WORKER_PROCESSES", default=2),
    "retry": WORKER_RETRY_SECONDS,
    "timeout": max(1, WORKER_RETRY_SECONDS // 2),
    "poll": env.float("WORKER_POLL_SECONDS", default=0.2),
    "save_limit": -1,  # successful jobs leave no row; failed ones are kept (admin: Failed tasks)
    "max_attempts": 5,  # a job that keeps raising is given up (and kept as failed) after this
    "catch_up": False,  # after downtime a periodic job runs once, not once per missed period
    "label": "Job queue",
}

# The periodic jobs, read like MIDDLEWARE: run_worker writes them into the queue's schedule on
# start. `every`: hourly, daily, weekly, or minutes (with "minutes": N).
ENGAGEMENT_PERIODIC_JOBS = [
    {
        "name": "purge expired idempotency keys",
        "func": "engagement.idempotency.purge_expired",
        "every": "hourly",
    },
    {"name": "purge old webhook deliveries", "func": "webhooks.services.purge_deliveries", "every": "daily"},
    {"name": "purge old failed jobs", "func": "engagement.queue.purge_failed_jobs", "every": "daily"},
    # A period is finalized within the hour after it ends (once: see leaderboards.services).
    {
        "name": "finalize leaderboards",
        "func": "leaderboards.services.finalize_leaderboards",
        "every": "hourly",
    },
]

# --- Webhooks (README "Webhooks") -------------------------------------------------
# true lets endpoints use http and loopback/private addresses: tests and local development only.
WEBHOOK_ALLOW_INSECURE = env.bool("WEBHOOK_ALLOW_INSECURE", default=False)
WEBHOOK_RETRY_BASE_SECONDS = env.float("WEBHOOK_RETRY_BASE_SECONDS", default=30)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=6)
WEBHOOK_TIMEOUT_SECONDS = 10
WEBHOOK_DISABLE_AFTER_FAILURES = 50
WEBHOOK_DELIVERY_RETENTION = timedelta(days=30)

# --- Leaderboards (README "Leaderboards") -----------------------------------------------
# How many top ranks a finished period's result snapshot keeps (the prize ranks at least).
LEADERBOARD_RESULT_SIZE = env.int("ENGAGEMENT_LEADERBOARD_RESULT_SIZE", default=100)

# --- Logging ------------------------------------------------------------------
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
if not DEBUG:
    # Every request writes an access line (engagement.middleware.RequestIDMiddleware): log
    # records skip the caller's file and line and the thread and process names no format prints.
    from engagement.logging import skip_unused_record_fields

    skip_unused_record_fields()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "engagement.logging.RequestIDFilter"}},
    "formatters": {
        "json": {"()": "engagement.logging.JSONFormatter"},
        "readable": {
            "()": "engagement.logging.ReadableFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_id"],
            "formatter": "readable" if DEBUG else "json",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "INFO"},
        # django-q2 logs every enqueue and every job at INFO: a line per check-in and per delivery.
        # Its warnings and failed jobs still show; webhooks logs failed deliveries itself.
        "django-q": {"level": "WARNING"},
    },
}
