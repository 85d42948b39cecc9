#!/bin/sh
# The release step, run once per deploy with the new image before its app containers start
# (compose's one-shot `migrate` service): apply migrations, then upsert the seeded catalog
# (seed_catalog is idempotent). The app container itself never migrates.
set -e
python manage.py migrate --noinput
python manage.py seed_catalog
