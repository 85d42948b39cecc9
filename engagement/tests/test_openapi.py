"""The OpenAPI schema validates, lists every endpoint, and the docs page works offline."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.auth.password_validation import MinimumLengthValidator as MinimumLength
from django.contrib.auth.password_validation import get_default_password_validators
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

PROJECT_ROOT = Path(settings.BASE_DIR)

ENDPOINTS = {
    "/api/v1/auth/register/": {"post"},
    "/api/v1/auth/token/": {"post"},
    "/api/v1/auth/token/refresh/": {"post"},
    "/api/v1/auth/logout/": {"post"},
    "/api/v1/auth/password/": {"post"},
    "/api/v1/me/": {"get", "patch"},
    "/api/v1/me/bootstrap/": {"post"},
    "/api/v1/me/events/": {"get"},
    "/api/v1/me/pause/": {"post", "delete"},
    "/api/v1/me/streak/repair/": {"post"},
    "/api/v1/checkins/": {"get", "post"},
    "/api/v1/tools/": {"get"},
    "/api/v1/tools/{slug}/": {"get"},
    "/api/v1/tools/{slug}/buy/": {"post"},
    "/api/v1/inventory/": {"get"},
    "/api/v1/inventory/{slug}/use/": {"post"},
    "/api/v1/rewards/": {"get"},
    "/api/v1/rewards/{slug}/claim/": {"post"},
    "/api/v1/leaderboards/": {"get"},
    "/api/v1/leaderboards/{slug}/": {"get"},
    "/api/v1/leaderboards/{slug}/me/": {"get"},
}
# Public: no token read at all (auth), or an optional one (the catalog reads a token when sent).
NO_TOKEN = {"/api/v1/auth/register/", "/api/v1/auth/token/", "/api/v1/auth/token/refresh/"}
OPTIONAL_TOKEN = {"/api/v1/tools/", "/api/v1/tools/{slug}/"}
PUBLIC = NO_TOKEN | OPTIONAL_TOKEN
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


@pytest.fixture(scope="module")
def schema() -> dict:
    """The JSON schema as served, fetched once: the tests below only read it."""
    response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.subprocess
def test_spectacular_validate_fail_on_warn_exits_0(tmp_path):
    out = tmp_path / "schema.yaml"

    completed = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=PROJECT_ROOT,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "Warning" not in completed.stderr
    assert set(yaml.safe_load(out.read_text())["paths"]) == set(ENDPOINTS)


def test_schema_lists_every_endpoint_with_its_methods(schema):
    assert schema["openapi"].startswith("3.")
    operations = {path: set(item) & HTTP_METHODS for path, item in schema["paths"].items()}
    assert operations == ENDPOINTS


def test_schema_documents_401_on_protected_and_auth_only_where_needed(schema):
    for path, methods in ENDPOINTS.items():
        for method in methods:
            operation = schema["paths"][path][method]
            if path in NO_TOKEN:
                assert operation.get("security") in (None, [], [{}]), (path, method)
                answer_401 = operation["responses"].get("401", {}).get("description", "")
                assert "not_authenticated" not in answer_401, (path, method)
            elif path in OPTIONAL_TOKEN:
                assert operation["security"] == [{"jwtAuth": []}, {}], (path, method)
                assert "not_authenticated" not in operation["responses"]["401"]["description"]
                assert "token_not_valid" in operation["responses"]["401"]["description"]
            else:
                assert "401" in operation["responses"], (path, method)
                assert operation["security"] == [{"jwtAuth": []}], (path, method)


def test_schema_yaml_served_without_authentication(api_client):
    response = api_client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert set(yaml.safe_load(response.content)["paths"]) == set(ENDPOINTS)


def _asset_urls(html: str) -> list[str]:
    return re.findall(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)["']""", html)


def test_docs_after_collectstatic_returns_html_using_only_local_assets(settings, collected_static):
    # Production serves static files collected at build time (WhiteNoise, compressed copies).
    settings.STATIC_ROOT = collected_static

    response = APIClient().get("/api/docs/")

    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "swagger-ui" in html
    assets = _asset_urls(html)
    assert any(url.endswith(".js") for url in assets)
    assert any(url.endswith(".css") for url in assets)
    for url in assets:
        assert not re.match(r"(?i)^(https?:)?//", url), url
        static = settings.STATIC_URL if settings.STATIC_URL.startswith("/") else "/static/"
        # Static files, and the page's own script (served from the page's URL, for the CSP).
        assert url.startswith(static) or url.startswith("/api/docs/?script"), url
        asset = APIClient().get(url.replace("&amp;", "&"))
        assert asset.status_code == 200, url
    assert not re.search(r"""(?i)<script[^>]+src=["']https?://""", html)


def test_docs_without_collectstatic_returns_html(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "never-collected"

    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


# --- the schema says exactly what the server accepts -----------------------------------------


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def _component(schema, ref: str) -> dict:
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_schema_every_request_body_is_closed_like_the_server(schema):
    bodies = {}
    for path, method, operation in _operations(schema):
        if "requestBody" in operation:
            ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            bodies[(path, method)] = _component(schema, ref)

    assert bodies, "no operation takes a body?"
    for where, body in bodies.items():
        assert body.get("additionalProperties") is False, where


def test_schema_every_operation_lists_its_error_answers_with_the_error_body(schema):
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        parameters = operation.get("parameters", [])
        expected = {"406", "429", "503"}
        if "requestBody" in operation:
            expected |= {"400", "413", "415"}
        if any(p["in"] in ("query", "header") for p in parameters):
            expected.add("400")
        if any(p["in"] == "path" for p in parameters):
            expected.add("404")
        if path not in NO_TOKEN:
            expected.add("401")
        assert expected <= set(responses), (path, method, sorted(expected - set(responses)))
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema_ref = response["content"]["application/json"]["schema"]["$ref"]
                assert schema_ref == "#/components/schemas/Error", (path, method, status)
                assert "`" in response["description"], (path, method, status)  # names its codes


def test_schema_register_password_states_the_servers_length_rules(schema):
    password = schema["components"]["schemas"]["RegisterInputRequest"]["properties"]["password"]
    (minimum,) = [v.min_length for v in get_default_password_validators() if isinstance(v, MinimumLength)]

    assert password["minLength"] == minimum == 8
    assert password["maxLength"] == 128
    assert re.search(password["pattern"], "a long passphrase 42")
    assert not re.search(password["pattern"], "1234567890")  # entirely numeric
    assert "common" in password["description"]


def test_schema_patch_me_every_field_optional(schema):
    body = schema["components"]["schemas"]["PatchedProfileUpdateInputRequest"]

    assert body["properties"]
    assert not body.get("required")


def test_schema_pagination_page_size_is_a_positive_integer(schema):
    for path in ("/api/v1/me/events/", "/api/v1/checkins/"):
        (page_size,) = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "page_size"]
        assert page_size["schema"] == {"type": "integer", "minimum": 1}, path


@pytest.mark.parametrize(
    "case, accepted",
    [
        ({"refresh": "REFRESH"}, True),
        ({"refresh": "REFRESH", "all": False}, True),
        ({"all": True}, True),
        ({"all": True, "refresh": "REFRESH"}, False),
        ({"all": False}, False),
        ({}, False),
    ],
)
def test_schema_logout_body_accepts_exactly_what_the_server_accepts(schema, user, case, accepted):
    from jsonschema import Draft4Validator
    from rest_framework_simplejwt.tokens import RefreshToken

    from accounts.tests.factories import bearer_client

    operation = schema["paths"]["/api/v1/auth/logout/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    body_schema = _component(schema, body["$ref"])
    refresh = str(RefreshToken.for_user(user))
    sent = {name: refresh if value == "REFRESH" else value for name, value in case.items()}

    response = bearer_client(user).post("/api/v1/auth/logout/", sent, format="json")

    assert operation["requestBody"]["required"] is True
    assert Draft4Validator(body_schema).is_valid(sent) is accepted
    assert response.status_code == (204 if accepted else 400), response.content
