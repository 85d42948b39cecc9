"""Cursor pagination for the ever-growing lists (ledger, check-ins), strict about its parameters."""

from __future__ import annotations

import re

from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, CursorPagination

from engagement.errors import ValidationFailed

_PAGE_SIZE = re.compile(r"[1-9][0-9]*")  # a positive integer as a client writes one


class StrictPageSizeMixin(BasePagination):
    """Refuse (400) a page_size that is not a positive integer, and any paging parameter given twice.

    DRF falls back to the default page for `page_size=abc`, `page_size=null` or `page_size=0`
    and takes the last of repeated values, so a client's mistake goes unnoticed; here it is a
    validation_error naming the parameter. Values above max_page_size are capped, as the
    schema's description says. Mix into any DRF pagination class with page_size_query_param.
    """

    page_size_query_param: str | None = "page_size"
    page_size: int
    max_page_size: int

    def _paging_parameters(self) -> list[str]:
        names = [self.page_size_query_param] if self.page_size_query_param else []
        for attribute in ("cursor_query_param", "page_query_param"):
            if getattr(self, attribute, None):
                names.append(getattr(self, attribute))
        return names

    def _refuse_repeated(self, request) -> None:
        repeated = [name for name in self._paging_parameters() if len(request.query_params.getlist(name)) > 1]
        if repeated:
            raise ValidationFailed(fields={name: ["Give this parameter at most once."] for name in repeated})

    def get_page_size(self, request):
        self._refuse_repeated(request)
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not _PAGE_SIZE.fullmatch(raw):
            raise ValidationFailed(
                fields={self.page_size_query_param: ["A positive integer is required (no sign, no spaces)."]}
            )
        if len(raw) > len(str(self.max_page_size)):
            return self.max_page_size  # more digits than the cap: no need to parse a huge number
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; values above {self.max_page_size} "
                    f"are capped at {self.max_page_size})."
                )
        return parameters


class NewestFirstCursorPagination(StrictPageSizeMixin, CursorPagination):
    ordering = "-id"
    page_size = 20
    max_page_size = 100

    def decode_cursor(self, request):
        """DRF checks that a cursor decodes; also refuse a position that is not an id (404)."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except (TypeError, ValueError) as exc:
                raise NotFound(self.invalid_cursor_message) from exc
        return cursor
