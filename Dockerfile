# Production image: gunicorn serving engagement.wsgi, built from the hashed lock (requirements.txt).
# It never migrates on start: migrations are the release step, docker/release.sh (compose's
# one-shot `migrate` service). For a base that cannot move either, pin it by digest:
# --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:...
ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the locked dependencies in a virtualenv, with the compilers a package without a
# wheel would need; none of the build tools reach the runtime image.
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
# Every file is checked against the lock's hashes, and anything not in the lock is refused.
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/requirements.txt \
    && /opt/venv/bin/pip check
# The Argon2 library stays the portable wheel: the image may run on another CPU than the one
# that builds it. For hosts known to have AVX2, --build-arg ARGON2_CFLAGS="-O3 -mavx2" rebuilds
# it from its locked source (about a third less CPU per login; scripts/tune_argon2.py).
ARG ARGON2_CFLAGS=""
COPY scripts/tune_argon2.py /tmp/tune_argon2.py
RUN if [ -n "$ARGON2_CFLAGS" ]; then \
        apt-get update && apt-get install -y --no-install-recommends cmake \
        && rm -rf /var/lib/apt/lists/* \
        && ARGON2_CFLAGS="$ARGON2_CFLAGS" /opt/venv/bin/python /tmp/tune_argon2.py /tmp/requirements.txt; \
    fi

# --- runtime: the slim base, the virtualenv, the code and its static files, a non-root user.
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

RUN useradd --create-home --uid 10001 app

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code and the collected static files belong to root: the app user reads them, never writes.
COPY . .
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput

USER app
EXPOSE 8000
# /readyz with a Host the app accepts (the first of DJANGO_ALLOWED_HOSTS); see the script.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=5 \
    CMD ["python", "/app/docker/healthcheck.py"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "engagement.wsgi:application"]
