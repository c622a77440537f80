"""Reliability checks: idempotent creation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from checks.catalog._util import (
    ServiceFault,
    create,
    created_id,
    delete_quietly,
    exchange,
    expect_created,
    holds_marker,
    item_id_of,
    items_url,
    json_body,
    unique_tag,
    verdict,
    walk_items,
)
from checks.engine.login import MAX_LOGIN_WAIT_S
from checks.engine.outcome import Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

# Counting our items walks the listing; past this many pages we rely on the returned ids.
MAX_COUNT_PAGES = 50
CONFLICT = (409, 422)


def _post(t: Target, headers: dict[str, str], key: str, marker: str) -> httpx.Response:
    return create(t, headers, marker, extra={"Idempotency-Key": key})


def _marked_ids(t: Target, headers: dict[str, str], marker: str) -> list[Any]:
    return [
        item_id_of(t, item)
        for item in walk_items(t, headers, limit=100, max_pages=MAX_COUNT_PAGES)
        if holds_marker(item, marker)
    ]


def _judge_replay(t: Target, first: httpx.Response, second: httpx.Response, route: str) -> None:
    """The second identical request must get exactly the first response."""
    if (second.status_code, json_body(second)) != (first.status_code, json_body(first)):
        raise ServiceFault(
            f"{route} repeated with the same Idempotency-Key and body answered "
            f"{second.status_code} {created_id(t, second)!r}, the first answered "
            f"{first.status_code} {created_id(t, first)!r}: the key was not honoured",
            responses=[exchange(first), exchange(second)],
        )


@verdict
def idempotency(t: Target) -> Verdict:
    items_url(t)  # before logging in: a service without the route skips
    headers, marker = t.auth_headers(), unique_tag("idem")
    route = f"POST {t.profile.paths.items}"
    key = str(uuid.uuid4())
    created: list[Any] = []
    try:
        first = _post(t, headers, key, marker)
        created.append(created_id(t, first))
        expect_created(t, first, f"{route} with an Idempotency-Key")
        second = _post(t, headers, key, marker)
        created.append(created_id(t, second))
        _judge_replay(t, first, second, route)
        found = _marked_ids(t, headers, marker)
        created.extend(found)
        if len(found) > 1:
            raise ServiceFault(
                f"two identical {route} requests with one Idempotency-Key created "
                f"{len(found)} items",
                item_ids=found,
            )
        changed = _post(t, headers, key, f"{marker}-b")
        created.append(created_id(t, changed))
        if changed.status_code not in CONFLICT:
            return failed(
                f"{route} reusing an Idempotency-Key with a different body answered "
                f"{changed.status_code}, expected 409 or 422",
                response=exchange(changed),
            )
        return passed(
            "same key and body replayed the first response (one item); a different body got "
            f"{changed.status_code}",
            responses=[exchange(first), exchange(second), exchange(changed)],
        )
    finally:
        delete_quietly(t, headers, {i for i in created if i is not None})


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "reliability.idempotency",
        "http",
        "Idempotency-Key replays the first response",
        idempotency,
        timeout_s=30.0 + MAX_LOGIN_WAIT_S,
    ),
)
