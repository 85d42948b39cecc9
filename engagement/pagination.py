"""Cursor pagination for the ever-growing lists (ledger, check-ins)."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination


class NewestFirstCursorPagination(CursorPagination):
    ordering = "-id"
    page_size = 20
    page_size_query_param = "page_size"
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
