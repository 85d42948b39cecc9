"""Static files in production: collected ones, compressed; never collected, the apps' own, quietly."""

from __future__ import annotations

import warnings

import httpx
import pytest
from django.test import Client

from engagement.testing import running_gunicorn

ADMIN_CSS = "/static/admin/css/base.css"


def test_static_after_collectstatic_served_from_staticfiles_gzip_compressed(settings, collected_static):
    settings.STATIC_ROOT = collected_static

    response = Client().get(ADMIN_CSS, HTTP_ACCEPT_ENCODING="gzip")

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"  # the copy collectstatic compressed
    assert "max-age" in response["Cache-Control"]


def test_static_without_collectstatic_no_warning_and_assets_still_served(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "never-collected"

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # WhiteNoise's "No directory at" would raise here
        response = Client().get(ADMIN_CSS)

    assert response.status_code == 200
    assert b"".join(response.streaming_content)
    assert not (tmp_path / "never-collected").exists()  # nothing written to the code's directory


@pytest.mark.slow
@pytest.mark.server
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_gunicorn_production_settings_no_collectstatic_workers_start_without_warnings(tmp_path, settings):
    if settings.STATIC_ROOT.exists():
        pytest.skip("staticfiles/ was collected in this checkout; the test is about one where it was not")

    with running_gunicorn(tmp_path, workers=2) as base_url:
        asset = httpx.get(base_url + ADMIN_CSS, timeout=10)

    log = "\n".join(path.read_text(errors="replace") for path in tmp_path.glob("gunicorn-*.log"))
    assert asset.status_code == 200
    assert "Warning" not in log, log
    assert "No directory at" not in log, log
