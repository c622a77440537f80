"""The one place that decides whether a request wants a page fragment (see netbox's
utilities/htmx.py): an htmx request that is not a boosted full-page navigation."""

from django.http import HttpRequest


def is_partial(request: HttpRequest) -> bool:
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted
