# The two commands: `make run` (set up and serve) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install run test lint format bench bench-scale clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

# Serves on SQLite (db.sqlite3) unless DATABASE_URL is set (a missing PostgreSQL database is
# created); DEBUG is on unless DJANGO_DEBUG says otherwise.
run: install
	$(BIN)/python scripts/ensure_database.py
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py seed_catalog
	DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/python manage.py runserver $(HOST):$(PORT)

# DATABASE_URL if set, else the local PostgreSQL if it answers, else SQLite (PostgreSQL-only tests skipped).
test: install
	@url="$$($(BIN)/python scripts/test_database.py)" || exit 1; \
	echo "make test: database $$url" | sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#'; \
	DATABASE_URL="$$url" $(BIN)/pytest $(PYTEST_ARGS)

# Benchmark under gunicorn on BENCH_DATABASE_URL, or a throwaway engagement_bench database; see bench/README.md.
bench: install
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.run $(BENCH_ARGS)

bench-scale: install
	DATABASE_URL="$(BENCH_DATABASE_URL)" $(BIN)/python -m bench.run --scale 100000 --phases A,B $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) db.sqlite3 test-db.sqlite3 staticfiles .pytest_cache
