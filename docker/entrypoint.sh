#!/bin/sh
# Apply migrations and upsert the seeded catalog, then hand over to the server.
set -e
python manage.py migrate --noinput
python manage.py seed_catalog
exec "$@"
