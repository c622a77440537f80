"""Small helpers shared by the catalog checks: evidence, expectations, items, tokens.

Checks read top to bottom as a script of requests and expectations. When the service breaks
a rule mid-script, ``expect``-style helpers raise ``ServiceFault`` and the ``@verdict``
decorator turns it into a ``fail`` with the summary and evidence gathered so far. Transport
exceptions are deliberately left alone: the runner maps them to ``error``.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from checks.engine.outcome import MissingSetting, Verdict, failed
from checks.engine.target import Target
from checks.engine.templates import find_path, render
from checks.engine.tokens import b64url_encode, jwt_claims

__all__ = ["jwt_claims"]

BODY_SNIPPET_CHARS = 500
# Keys whose values must never reach evidence, even inside a truncated body.
_SECRET_KEY = re.compile(r"token|password|secret|authorization", re.IGNORECASE)


class ServiceFault(Exception):
    """The service broke the rule being checked; becomes a ``fail`` verdict."""

    def __init__(self, summary: str, **evidence: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence


def verdict(check: Callable[[Target], Verdict]) -> Callable[[Target], Verdict]:
    """Let a check raise ``ServiceFault`` instead of threading verdicts through helpers."""

    @functools.wraps(check)
    def run(t: Target) -> Verdict:
        try:
            return check(t)
        except ServiceFault as fault:
            return failed(fault.summary, **fault.evidence)

    return run


# --- evidence ---


def redact(value: Any) -> Any:
    """A JSON value with every secret-looking key's value replaced."""
    if isinstance(value, dict):
        return {
            k: ("***" if _SECRET_KEY.search(str(k)) and v is not None else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def body_snippet(response: httpx.Response) -> str:
    """The body, secrets redacted, cut to ~500 characters."""
    try:
        text = json.dumps(redact(response.json()), separators=(",", ":"))
    except ValueError:
        text = response.text
    if len(text) > BODY_SNIPPET_CHARS:
        return text[:BODY_SNIPPET_CHARS] + "…"
    return text


def elapsed_ms(response: httpx.Response) -> int | None:
    try:
        return int(response.elapsed.total_seconds() * 1000)
    except RuntimeError:  # elapsed is only set once the response is closed
        return None


def exchange(response: httpx.Response, *headers: str, body: bool = True) -> dict[str, Any]:
    """Evidence for one request/response. Request headers are never included (tokens)."""
    request = response.request
    shown: dict[str, Any] = {
        "request": f"{request.method} {request.url.raw_path.decode('ascii', 'replace')}",
        "status": response.status_code,
        "elapsed_ms": elapsed_ms(response),
    }
    if headers:
        shown["headers"] = {name: response.headers.get(name) for name in headers}
    if body:
        shown["body"] = body_snippet(response)
    return shown


def json_body(response: httpx.Response) -> Any:
    """The parsed JSON body, or None when the body is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def expect_status(response: httpx.Response, wanted: int | Iterable[int], what: str) -> None:
    """Fail with e.g. "POST /items answered 500, expected 201"."""
    allowed = {wanted} if isinstance(wanted, int) else set(wanted)
    if response.status_code not in allowed:
        expected = " or ".join(str(code) for code in sorted(allowed))
        raise ServiceFault(
            f"{what} answered {response.status_code}, expected {expected}",
            response=exchange(response),
        )


def expect_json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    data = json_body(response)
    if not isinstance(data, dict):
        raise ServiceFault(f"{what} did not answer a JSON object", response=exchange(response))
    return data


def unique_tag(purpose: str) -> str:
    """A tag no other run shares, so a check only ever judges items it created."""
    return f"preflight-{purpose}-{secrets.token_hex(6)}"


# --- items (the profile's [resource] mapping) ---


def items_url(t: Target) -> str:
    """The collection's URL; skip naming paths.items when the service offers none."""
    return t.route("items")


def item_route(t: Target) -> str:
    """The item route as a template, for summaries: "/items/{id}"."""
    route = t.profile.resource.item_template(t.profile.paths.items)
    if not route:
        raise MissingSetting("resource.item_path", "where one item lives, e.g. /items/{id}")
    return route


def item_url(t: Target, item_id: Any) -> str:
    return t.url(item_route(t).replace("{id}", quote(str(item_id), safe="")))


def create_body(t: Target, marker: str) -> Any:
    """The profile's create body with Preflight's unique ``marker`` placed in it."""
    return render(t.profile.resource.create_body, {"marker": marker})


def update_body(t: Target, marker: str) -> Any:
    return render(t.profile.resource.update_template(), {"marker": marker})


def answered_item(t: Target, response: httpx.Response) -> Any:
    """The item in a one-item answer (create, read, update): at ``resource.item_envelope``."""
    return find_path(json_body(response), t.profile.resource.item_envelope)


def created_id(t: Target, response: httpx.Response) -> Any:
    """The new item's id (at ``resource.id_path`` in the item) in a create answer, or None."""
    if response.status_code not in t.profile.status.created:
        return None
    value = find_path(answered_item(t, response), t.profile.resource.id_path)
    return value if isinstance(value, str | int) and not isinstance(value, bool) else None


def create(
    t: Target, headers: dict[str, str], marker: str, *, extra: dict[str, str] | None = None
) -> httpx.Response:
    return t.http.post(
        items_url(t), headers={**headers, **(extra or {})}, json=create_body(t, marker)
    )


def create_item(
    t: Target, headers: dict[str, str], *, name: str, tags: list[str]
) -> httpx.Response:
    """Create one item whose marker is ``name`` (``tags`` are the reference's; kept for old
    callers, the profile's create body decides what is sent)."""
    return create(t, headers, name)


def expect_created(t: Target, response: httpx.Response, what: str) -> Any:
    """The id of the item a create made; faults on a wrong status or a missing id."""
    expect_status(response, t.profile.status.created, what)
    item_id = created_id(t, response)
    if item_id is None:
        res = t.profile.resource
        where = f"{res.item_envelope}.{res.id_path}" if res.item_envelope else res.id_path
        raise ServiceFault(
            f"{what} answered {response.status_code} without an id at {where!r} "
            "(resource.item_envelope, resource.id_path)",
            response=exchange(response),
        )
    return item_id


def delete_quietly(t: Target, headers: dict[str, str], item_ids: Iterable[Any]) -> None:
    """Best-effort cleanup; failures here must not hide the verdict being returned."""
    for item_id in item_ids:
        if item_id is None:
            continue
        with contextlib.suppress(httpx.HTTPError, MissingSetting):
            t.http.delete(item_url(t, item_id), headers=headers)


def listing_items(t: Target, response: httpx.Response, what: str) -> list[dict[str, Any]]:
    """The items of one listing answer (at ``resource.list_path``); faults when malformed."""
    res = t.profile.resource
    items = find_path(json_body(response), res.list_path)
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and find_path(i, res.id_path) is not None for i in items
    ):
        where = f"at resource.list_path = {res.list_path!r}" if res.list_path else "(a bare array)"
        raise ServiceFault(
            f"{what} did not answer a list of items with ids {where}",
            response=exchange(response),
        )
    return items


def item_id_of(t: Target, item: dict[str, Any]) -> Any:
    return find_path(item, t.profile.resource.id_path)


def list_page(
    t: Target, headers: dict[str, str], *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, httpx.Response]:
    """One page of a cursor listing: (items, next_cursor, response); faults when malformed."""
    res = t.profile.resource
    params: dict[str, Any] = {res.limit_param: limit}
    if cursor is not None:
        params[res.cursor_param] = cursor
    response = t.http.get(items_url(t), headers=headers, params=params)
    what = f"GET {t.profile.paths.items}?{res.limit_param}={limit}" + (
        f"&{res.cursor_param}=…" if cursor else ""
    )
    expect_status(response, 200, what)
    items = listing_items(t, response, what)
    next_cursor = find_path(json_body(response), res.next_cursor_path, ...)
    if next_cursor is ... or not (next_cursor is None or isinstance(next_cursor, str)):
        raise ServiceFault(
            f"{what} answered no cursor (string or null) at resource.next_cursor_path = "
            f"{res.next_cursor_path!r}",
            response=exchange(response),
        )
    return items, next_cursor, response


def walk_items(
    t: Target, headers: dict[str, str], *, limit: int, max_pages: int
) -> Iterator[dict[str, Any]]:
    """Every item of the listing, page by page in the service's own pagination style; stops
    quietly after ``max_pages``."""
    res = t.profile.resource
    if res.pagination == "cursor":
        cursor: str | None = None
        for _ in range(max_pages):
            items, cursor, _response = list_page(t, headers, limit=limit, cursor=cursor)
            yield from items
            if cursor is None:
                return
        return
    position = 0 if res.pagination == "offset" else 1
    for _ in range(max_pages):
        params: dict[str, Any] = {}
        if res.pagination == "offset":
            params = {res.offset_param: position, res.limit_param: limit}
        elif res.pagination == "page":
            params = {res.page_param: position, res.limit_param: limit}
        response = t.http.get(items_url(t), headers=headers, params=params)
        what = f"GET {t.profile.paths.items}"
        expect_status(response, 200, what)
        items = listing_items(t, response, what)
        yield from items
        if res.pagination == "none" or len(items) < limit:
            return
        position += len(items) if res.pagination == "offset" else 1


def holds_marker(item: Any, marker: str) -> bool:
    return marker in json.dumps(item, default=str)


# --- tokens ---


def forge_jwt(token: str, claims: dict[str, Any], *, unsigned: bool = False) -> str:
    """A copy of ``token`` with its payload replaced: keeps the (now wrong) signature, or
    drops it and declares ``alg: none``. A sound service refuses both."""
    header_part, _payload, signature = token.split(".")
    if unsigned:
        header_part = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        signature = ""
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header_part}.{payload}.{signature}"


def bearer(token: str) -> dict[str, str]:
    """The reference's header for ``token``; checks use ``Target.header_for`` instead."""
    return {"Authorization": f"Bearer {token}"}


def retry_after_valid(value: str | None) -> bool:
    """Retry-After is delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    if not value:
        return False
    if value.strip().isdigit():
        return True
    try:
        parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return True
