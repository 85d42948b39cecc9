"""The API's one body parser: JSON, always UTF-8 (RFC 8259), with errors that echo nothing."""

from __future__ import annotations

import json

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant


class JSONParser(parsers.JSONParser):
    """DRF's JSONParser, minus the charset parameter and the codec's words in its errors.

    DRF decodes with the request's declared charset and answers a decoding failure with the
    codec's message (which byte, at which position, of what input). JSON is UTF-8, so this
    decodes UTF-8 whatever is declared, and says only that the body is not UTF-8; a syntax
    error keeps json's message (a position, never the input).
    """

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ParseError("JSON parse error - the body is not valid UTF-8.") from exc
        try:
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except json.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc.msg}: line {exc.lineno} column {exc.colno}.") from exc
        except ValueError as exc:
            raise ParseError("JSON parse error - the body is not valid JSON.") from exc
