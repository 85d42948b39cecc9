"""Content-Security-Policy on the pages the server renders (django-csp): the admin and the docs."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db

POLICY = "Content-Security-Policy"


def directives(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response[POLICY].split(";") if part.strip())


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/"])
def test_page_carries_a_policy_with_no_inline_code_and_no_framing(client, path):
    response = client.get(path)

    assert response.status_code == 200
    policy = directives(response)
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert "unsafe" not in response[POLICY]


def test_docs_page_has_no_inline_script_or_style_and_loads_its_script_from_itself(client):
    html = client.get("/api/docs/").content.decode()

    assert "<style" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    script = re.search(r'<script src="(/api/docs/\?[^"]*script[^"]*)"', html)
    assert script, html
    answer = client.get(script.group(1).replace("&amp;", "&"))
    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in answer.content.decode()


def test_admin_lockout_and_error_pages_carry_the_policy_too(client):
    assert POLICY in client.get("/admin/no-such-page/")


def test_the_json_api_carries_no_policy(client):
    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert POLICY not in response
    assert f"{POLICY}-Report-Only" not in response


def test_a_policy_that_does_not_exclude_the_api_still_reaches_it(client, settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    response = client.get("/api/v1/me/")

    assert response.status_code == 401
    assert POLICY not in response
    assert response[f"{POLICY}-Report-Only"] == "default-src 'none'"
