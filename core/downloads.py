"""A table offered for download: CSV or JSON, as an attachment with its file name."""

from __future__ import annotations

from collections.abc import Callable

from django.http import Http404, HttpResponse

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def attachment(
    fmt: str, filename: str, *, csv: Callable[[], str], json: Callable[[], str]
) -> HttpResponse:
    """``filename.fmt`` built by the matching callable (only that one runs); 404 for any
    other format."""
    if fmt not in CONTENT_TYPES:
        raise Http404("Export as .csv or .json")
    body = csv() if fmt == "csv" else json()
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    return response
