"""The benchmark harness (python -m bench.run); see bench/README.md."""

from pathlib import Path

# gunicorn, manage.py and the load generator run from here, as they would in production.
ROOT = Path(__file__).resolve().parent.parent
