"""The content negotiation's shortcut answers exactly as DRF's own negotiation does."""

from __future__ import annotations

import pytest
from django.http import Http404
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from engagement.negotiation import ContentNegotiation

ACCEPTS = [
    None,
    "",
    "*/*",
    " */* ",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, */*;q=0.8",
    "application/json, text/plain, */*",
    "image/png",
]


def negotiate(negotiation, accept, renderers, *, path="/api/v1/me/", format_suffix=None):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(path, **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, format_suffix)
    except NotAcceptable:
        return "406"
    except Http404:  # a format override no renderer has
        return "404"
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize(
    "renderer_classes",
    [[JSONRenderer], [JSONRenderer, BrowsableAPIRenderer], [BrowsableAPIRenderer, JSONRenderer]],
)
@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/me/?format=api", "/api/v1/me/?format=json"])
def test_select_renderer_when_any_accept_then_same_answer_as_drf(accept, renderer_classes, path):
    renderers = [cls() for cls in renderer_classes]

    ours = negotiate(ContentNegotiation(), accept, renderers, path=path)
    drf = negotiate(DefaultContentNegotiation(), accept, renderers, path=path)

    assert ours == drf


def test_select_renderer_when_format_suffix_then_same_answer_as_drf():
    renderers = [JSONRenderer(), BrowsableAPIRenderer()]

    assert negotiate(ContentNegotiation(), "*/*", renderers, format_suffix="api") == negotiate(
        DefaultContentNegotiation(), "*/*", renderers, format_suffix="api"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["*/*", "application/json"])
def test_api_when_plain_accept_then_json(client, accept):
    response = client.get("/api/v1/tools/", HTTP_ACCEPT=accept)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
