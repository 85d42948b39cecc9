# The two commands: `make run` (set up and serve) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=
LOCK_ARGS ?=

.PHONY: install lock run worker test test-fast lint format bench bench-scale bench-webhooks bench-leaderboards clean

# The venv installs the dev lock (the runtime lock plus the tools), every file checked against
# its hash; it is redone whenever a lock changes. Then the Argon2 library is rebuilt from its
# locked source for this CPU when it has AVX2 (a third less CPU per login; the portable wheel
# stays if that fails, or with ARGON2_BUILD=wheel): scripts/tune_argon2.py.
$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	$(BIN)/python scripts/tune_argon2.py requirements.txt
	touch $@

install: $(BIN)/.installed

# Rewrites both locks from the .in files, keeping existing pins unless an .in file or LOCK_ARGS
# asks otherwise (LOCK_ARGS="--upgrade-package NAME", or --upgrade for everything).
# uv's `pip compile` rather than pip-tools: --universal resolves once for every platform
# (markers such as sys_platform == 'win32' stay in the lock, where pip-compile locks only the
# platform it runs on), so one lock installs on Linux, macOS and in the image, with the hash of
# every file PyPI has for each pinned version; and it reads no pip configuration, so a lock made
# on any machine names PyPI's files only. Its version is pinned in requirements-dev.in, so
# everyone locks with the same uv. The dev lock is resolved under the runtime lock
# (-c requirements.txt): the packages they share keep the same versions.
UV_COMPILE = $(BIN)/uv pip compile --quiet --no-config --universal --python-version 3.11 \
	--generate-hashes --index-url https://pypi.org/simple --custom-compile-command "make lock"

lock: install
	$(UV_COMPILE) $(LOCK_ARGS) requirements.in -o requirements.txt
	$(UV_COMPILE) $(LOCK_ARGS) requirements-dev.in -c requirements.txt -o requirements-dev.txt

# Serves on SQLite (db.sqlite3) unless DATABASE_URL is set (a missing PostgreSQL database is
# created); DEBUG is on unless DJANGO_DEBUG says otherwise, and so are webhooks to local
# receivers (WEBHOOK_ALLOW_INSECURE). The API (runserver) and the job queue's worker run
# together under scripts/supervise.py: one Ctrl-C stops both. Without DEBUG the static files
# are served the production way, from what collectstatic writes to staticfiles/ (WhiteNoise).
DEV_ENV = DJANGO_DEBUG=$${DJANGO_DEBUG:-true} WEBHOOK_ALLOW_INSECURE=$${WEBHOOK_ALLOW_INSECURE:-true}

run: install
	$(BIN)/python scripts/ensure_database.py
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEV_ENV) $(BIN)/python manage.py seed_catalog
	@case "$$(echo "$${DJANGO_DEBUG:-true}" | tr A-Z a-z)" in \
	  true|on|ok|y|yes|1) ;; \
	  *) echo "$(BIN)/python manage.py collectstatic --noinput"; \
	     $(BIN)/python manage.py collectstatic --noinput --verbosity 0 ;; \
	esac
	$(DEV_ENV) $(BIN)/python scripts/supervise.py \
		"web=$(BIN)/python manage.py runserver $(HOST):$(PORT)" \
		"worker=$(BIN)/python manage.py run_worker"

# The worker alone (webhook deliveries, periodic jobs), with make run's environment.
worker: install
	$(DEV_ENV) $(BIN)/python manage.py run_worker

# DATABASE_URL if set, else the local PostgreSQL if it answers, else SQLite (PostgreSQL-only tests skipped).
test: install
	@url="$$($(BIN)/python scripts/test_database.py)" || exit 1; \
	echo "make test: database $$url" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'; \
	DATABASE_URL="$$url" $(BIN)/pytest $(PYTEST_ARGS)

# The inner loop: every test that needs neither PostgreSQL-only features, a server process
# (gunicorn, runserver, the worker), a child Django process, Schemathesis nor a browser, on an
# in-memory SQLite database with the local-memory cache (REDIS_URL left out; the Redis-only
# tests use a Redis database of their own per xdist worker, so at most 16 workers); spread over
# the CPU cores when pytest-xdist is installed, in one process otherwise. Its test databases are
# built from the models (--nomigrations: seconds less per process), and it keeps compiled
# bytecode (and pytest's rewritten test modules) in __pycache__ even where
# PYTHONDONTWRITEBYTECODE is set, so a rerun does not compile them again; `make test` runs every
# test on the migrated schema. Its property tests try a quarter of their examples (the
# Hypothesis profile "fast"; `make test` tries them all), and each process leaves out the pytest
# plugins no test here uses (Schemathesis, anyio, Faker's fixture).
FAST_MARKERS = not postgres and not server and not subprocess and not schemathesis and not browser and not slow
FAST_PLUGINS_OFF = -p no:schemathesis -p no:anyio -p no:faker

test-fast: install
	@workers="$$($(BIN)/python -c 'import xdist' 2>/dev/null && echo '-n auto --maxprocesses 16')"; \
	PYTHONDONTWRITEBYTECODE= DATABASE_URL=sqlite:///test-db.sqlite3 REDIS_URL= $(BIN)/pytest -q -p no:cacheprovider \
		-m "$(FAST_MARKERS)" --nomigrations --hypothesis-profile=fast $(FAST_PLUGINS_OFF) \
		--ignore=browser_tests --ignore=engagement/tests/test_robustness_schemathesis.py \
		$$workers $(PYTEST_ARGS)

# Benchmark under gunicorn on BENCH_DATABASE_URL, or a throwaway engagement_bench database; see bench/README.md.
bench: install
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.run $(BENCH_ARGS)

# Webhook delivery throughput with real worker processes; see bench/webhooks.py.
bench-webhooks: install
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.webhooks $(BENCH_ARGS)

# Leaderboard top-100 and me/ at 1,000,000 entries in one period; see bench/leaderboards.py.
bench-leaderboards: install
	DATABASE_URL="$(BENCH_LEADERBOARDS_DATABASE_URL)" $(BIN)/python -m bench.leaderboards $(BENCH_ARGS)

bench-scale: install
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.run --scale 100000 --phases A,B $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_DEBUG=true $(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 test-db.sqlite3 staticfiles .pytest_cache
