"""htmx, decided once: whether a request wants a page fragment (see netbox's
utilities/htmx.py), and the status that tells a polling fragment to stop."""

from django.http import HttpRequest

# htmx stops polling when a response has this status.
STOP_POLLING = 286


def is_partial(request: HttpRequest) -> bool:
    """An htmx request that is not a boosted full-page navigation."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.boosted
