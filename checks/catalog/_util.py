"""Small helpers shared by the catalog checks: evidence, expectations, items, tokens.

Checks read top to bottom as a script of requests and expectations. When the service breaks
a rule mid-script, ``expect``-style helpers raise ``ServiceFault`` and the ``@verdict``
decorator turns it into a ``fail`` with the summary and evidence gathered so far. Transport
exceptions are deliberately left alone: the runner maps them to ``error``.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from checks.engine.outcome import Verdict, failed
from checks.engine.target import Target

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


# --- items ---


def items_url(t: Target) -> str:
    return t.url(t.profile.paths.items)


def item_url(t: Target, item_id: Any) -> str:
    return items_url(t).rstrip("/") + f"/{item_id}"


def item_route(t: Target) -> str:
    """The item route as a template, for summaries: "/items/{id}"."""
    return t.profile.paths.items.rstrip("/") + "/{id}"


def create_item(
    t: Target,
    headers: dict[str, str],
    *,
    name: str,
    tags: list[str],
) -> httpx.Response:
    return t.http.post(items_url(t), headers=headers, json={"name": name, "tags": tags})


def delete_quietly(t: Target, headers: dict[str, str], item_ids: Iterable[Any]) -> None:
    """Best-effort cleanup; failures here must not hide the verdict being returned."""
    for item_id in item_ids:
        with contextlib.suppress(httpx.HTTPError):
            t.http.delete(item_url(t, item_id), headers=headers)


def list_page(
    t: Target, headers: dict[str, str], *, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None, httpx.Response]:
    """One page of the listing: (items, next_cursor, response); faults on a malformed page."""
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = t.http.get(items_url(t), headers=headers, params=params)
    what = f"GET {t.profile.paths.items}?limit={limit}" + ("&cursor=…" if cursor else "")
    expect_status(response, 200, what)
    page = expect_json_object(response, what)
    items, next_cursor = page.get("items"), page.get("next_cursor", ...)
    if (
        not isinstance(items, list)
        or not all(isinstance(i, dict) and "id" in i for i in items)
        or next_cursor is ...
        or not (next_cursor is None or isinstance(next_cursor, str))
    ):
        raise ServiceFault(
            f"{what} did not answer {{'items': [...], 'next_cursor': str|null}}",
            response=exchange(response),
        )
    return items, next_cursor, response


def walk_items(
    t: Target, headers: dict[str, str], *, limit: int, max_pages: int
) -> Iterator[dict[str, Any]]:
    """Every item of the listing, page by page; stops quietly after ``max_pages``."""
    cursor: str | None = None
    for _ in range(max_pages):
        items, cursor, _response = list_page(t, headers, limit=limit, cursor=cursor)
        yield from items
        if cursor is None:
            return


# --- tokens ---


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a JWT, unverified (we hold no key), or None if it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(_b64url_decode(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


def forge_jwt(token: str, claims: dict[str, Any], *, unsigned: bool = False) -> str:
    """A copy of ``token`` with its payload replaced: keeps the (now wrong) signature, or
    drops it and declares ``alg: none``. A sound service refuses both."""
    header_part, _payload, signature = token.split(".")
    if unsigned:
        header_part = _b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
        signature = ""
    payload = _b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header_part}.{payload}.{signature}"


def bearer(token: str) -> dict[str, str]:
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
