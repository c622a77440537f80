"""Runbook step 2 — smoke: is the service up, does it reach its database, does CRUD work."""

from __future__ import annotations

from typing import Any

import httpx

from checks.catalog._util import (
    ServiceFault,
    answered_item,
    create_body,
    delete_quietly,
    exchange,
    expect_created,
    expect_json_object,
    expect_status,
    item_route,
    item_url,
    items_url,
    json_body,
    unique_tag,
    update_body,
    verdict,
)
from checks.engine.login import MAX_LOGIN_WAIT_S
from checks.engine.outcome import Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target
from checks.engine.templates import contains, find_path


def _answers_200(t: Target, name: str) -> Verdict:
    url, path = t.route(name), getattr(t.profile.paths, name)
    response = t.http.get(url)
    if response.status_code != 200:
        return failed(
            f"GET {path} answered {response.status_code}, expected 200",
            response=exchange(response),
        )
    return passed(f"GET {path} answered 200", response=exchange(response))


def health(t: Target) -> Verdict:
    return _answers_200(t, "health")


def ping_db(t: Target) -> Verdict:
    return _answers_200(t, "ping_db")


def _expect_holds(item: Any, sent: Any, what: str, response: httpx.Response | None = None) -> None:
    """Fail unless ``item`` carries every field that was sent, with the value sent."""
    wrong = contains(item, sent)
    if wrong:
        shown = ", ".join(w or "the body" for w in wrong)
        raise ServiceFault(
            f"{what} answered an item whose {shown} differ from what was sent",
            expected=sent,
            **({"response": exchange(response)} if response is not None else {}),
        )


def _codes(*statuses: int) -> str:
    return ", ".join(str(s) for s in statuses)


@verdict
def crud_cycle(t: Target) -> Verdict:
    collection, route = t.profile.paths.items, item_route(t)  # before logging in: may skip
    items_url(t)
    headers = t.auth_headers()
    marker = unique_tag("crud")
    sent = create_body(t, marker)
    created = t.http.post(items_url(t), headers=headers, json=sent)
    item_id = expect_created(t, created, f"POST {collection}")
    try:
        _expect_holds(json_body(created), sent, f"POST {collection}", created)
        missing = [
            path
            for path in (t.profile.resource.created_at_path,)
            if path and find_path(answered_item(t, created), path, ...) is ...
        ]
        if missing:
            raise ServiceFault(
                f"POST {collection} answered an item without {', '.join(missing)}",
                response=exchange(created),
            )
        return _read_update_delete(t, headers, item_id, sent, marker, route, created)
    finally:
        # A no-op DELETE (or an early failure) would leave the item behind.
        delete_quietly(t, headers, [item_id])


def _read_update_delete(
    t: Target,
    headers: dict[str, str],
    item_id: Any,
    sent: Any,
    marker: str,
    route: str,
    created: httpx.Response,
) -> Verdict:
    url = item_url(t, item_id)
    _expect_holds(item_body(t, url, headers, f"GET {route}"), sent, f"GET {route}")
    method = t.profile.resource.update_method
    changes = update_body(t, f"{marker}-renamed")
    updated = t.http.request(method, url, headers=headers, json=changes)
    expect_status(updated, (200, 204), f"{method} {route}")
    if updated.status_code == 200:
        _expect_holds(json_body(updated), changes, f"{method} {route}", updated)
    _expect_holds(
        item_body(t, url, headers, f"GET {route} after {method}"),
        changes,
        f"GET {route} after {method}",
    )
    deleted = t.http.delete(url, headers=headers)
    expect_status(deleted, t.profile.status.deleted, f"DELETE {route}")
    after = t.http.get(url, headers=headers)
    if after.status_code not in (404, 410):
        raise ServiceFault(
            f"DELETE {route} answered {deleted.status_code} but GET afterwards answered "
            f"{after.status_code}, expected 404",
            responses=[exchange(deleted), exchange(after)],
        )
    return passed(
        f"POST {created.status_code}, GET 200, {method} {updated.status_code}, GET 200, "
        f"DELETE {deleted.status_code}, GET {after.status_code} on {route}",
        item_id=item_id,
        response=exchange(after),
    )


def item_body(t: Target, url: str, headers: dict[str, str], what: str) -> Any:
    response = t.http.get(url, headers=headers)
    expect_status(response, 200, what)
    expect_json_object(response, what)
    return json_body(response)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("smoke.health", "smoke", "Health endpoint answers 200", health),
    CheckSpec("smoke.ping_db", "smoke", "Database ping answers 200", ping_db),
    CheckSpec(
        "smoke.crud_cycle",
        "smoke",
        "Create, read, update, delete an item",
        crud_cycle,
        timeout_s=20.0 + MAX_LOGIN_WAIT_S,  # the probe's login may wait out a 429 first
    ),
)
