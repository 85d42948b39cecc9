"""DRF's content negotiation, answering the Accept headers nearly every client sends at once."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.settings import api_settings

# Accept headers whose answer is the first renderer's own media type when that renderer is the
# JSON one: no header at all (DRF reads it as */*), */*, and application/json itself. (An
# empty header is not among them: DRF refuses it with a 406.)
_PLAIN_ACCEPTS = frozenset({"*/*", "application/json"})


class ContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, skipping the parse of an Accept header it would answer with JSON.

    DRF parses and orders the Accept header on every request, a twentieth of a GET me/'s CPU
    (in-process profile). For the headers in _PLAIN_ACCEPTS, with no format override (a URL
    suffix or ?format=), DRF's answer is always (the JSON renderer, "application/json"): that
    answer is returned at once. Every other request is negotiated by DRF as before.
    """

    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            not format_suffix
            and renderers
            and renderers[0].media_type == "application/json"
            and request.META.get("HTTP_ACCEPT", "*/*").strip() in _PLAIN_ACCEPTS
            and api_settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], "application/json"
        return super().select_renderer(request, renderers, format_suffix)
