"""Reliability checks: idempotent creation."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from checks.catalog._util import (
    ServiceFault,
    delete_quietly,
    exchange,
    expect_status,
    items_url,
    json_body,
    unique_tag,
    verdict,
    walk_items,
)
from checks.engine.outcome import Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

# Counting our items walks the listing; past this many pages we rely on the returned ids.
MAX_COUNT_PAGES = 50
CONFLICT = (409, 422)


def _post(t: Target, headers: dict[str, str], key: str, body: dict[str, Any]) -> httpx.Response:
    return t.http.post(items_url(t), headers={**headers, "Idempotency-Key": key}, json=body)


def _tagged_ids(t: Target, headers: dict[str, str], tag: str) -> list[Any]:
    return [
        item["id"]
        for item in walk_items(t, headers, limit=100, max_pages=MAX_COUNT_PAGES)
        if tag in (item.get("tags") or [])
    ]


def _judge_replay(first: httpx.Response, second: httpx.Response, route: str) -> None:
    """The second identical request must get exactly the first response."""
    if (second.status_code, json_body(second)) != (first.status_code, json_body(first)):
        raise ServiceFault(
            f"{route} repeated with the same Idempotency-Key and body answered "
            f"{second.status_code} {_id_of(second)!r}, the first answered "
            f"{first.status_code} {_id_of(first)!r}",
            first=exchange(first),
            second=exchange(second),
        )


def _id_of(response: httpx.Response) -> Any:
    body = json_body(response)
    return body.get("id") if isinstance(body, dict) else None


@verdict
def idempotency(t: Target) -> Verdict:
    headers, tag = t.auth_headers(), unique_tag("idem")
    route = f"POST {t.profile.paths.items}"
    key, body = str(uuid.uuid4()), {"name": f"{tag}-a", "tags": [tag]}
    created: list[Any] = []
    try:
        first = _post(t, headers, key, body)
        created.append(_id_of(first))
        expect_status(first, 201, f"{route} with an Idempotency-Key")
        second = _post(t, headers, key, body)
        created.append(_id_of(second))
        _judge_replay(first, second, route)
        found = _tagged_ids(t, headers, tag)
        created.extend(found)
        if len(found) > 1:
            raise ServiceFault(
                f"two identical {route} requests with one Idempotency-Key created "
                f"{len(found)} items",
                item_ids=found,
            )
        changed = _post(t, headers, key, {**body, "name": f"{tag}-b"})
        created.append(_id_of(changed))
        if changed.status_code not in CONFLICT:
            return failed(
                f"{route} reusing an Idempotency-Key with a different body answered "
                f"{changed.status_code}, expected 409 or 422",
                response=exchange(changed),
            )
        return passed(
            "same key and body replayed the first response (one item); a different body got "
            f"{changed.status_code}",
            first=exchange(first),
            replay=exchange(second),
            different_body=exchange(changed),
        )
    finally:
        delete_quietly(t, headers, {i for i in created if i is not None})


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "reliability.idempotency",
        "http",
        "Idempotency-Key replays the first response",
        idempotency,
        timeout_s=30.0,
    ),
)
