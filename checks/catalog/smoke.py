"""Runbook step 2 — smoke: is the service up, does it reach its database, does CRUD work."""

from __future__ import annotations

from typing import Any

from checks.catalog._util import (
    ServiceFault,
    create_item,
    delete_quietly,
    exchange,
    expect_json_object,
    expect_status,
    item_route,
    item_url,
    unique_tag,
    verdict,
)
from checks.engine.outcome import Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target


def _answers_200(t: Target, path: str) -> Verdict:
    response = t.http.get(t.url(path))
    if response.status_code != 200:
        return failed(
            f"GET {path} answered {response.status_code}, expected 200",
            response=exchange(response),
        )
    return passed(f"GET {path} answered 200", response=exchange(response))


def health(t: Target) -> Verdict:
    return _answers_200(t, t.profile.paths.health)


def ping_db(t: Target) -> Verdict:
    return _answers_200(t, t.profile.paths.ping_db)


def _expect_item(item: dict[str, Any], want: dict[str, Any], what: str) -> None:
    """Fail unless ``item`` carries each wanted field with the wanted value."""
    wrong = {key: item.get(key) for key, value in want.items() if item.get(key) != value}
    if wrong:
        raise ServiceFault(
            f"{what} answered an item whose {', '.join(sorted(wrong))} differ from what was sent",
            expected=want,
            got=wrong,
        )


@verdict
def crud_cycle(t: Target) -> Verdict:
    headers = t.auth_headers()
    route, tag = item_route(t), unique_tag("crud")
    name = f"{tag}-created"
    created = create_item(t, headers, name=name, tags=[tag])
    expect_status(created, 201, f"POST {t.profile.paths.items}")
    item = expect_json_object(created, f"POST {t.profile.paths.items}")
    missing = [f for f in ("id", "name", "tags", "created_at", "updated_at") if f not in item]
    if missing:
        raise ServiceFault(
            f"POST {t.profile.paths.items} answered an item without {', '.join(missing)}",
            response=exchange(created),
        )
    item_id = item["id"]
    try:
        return _read_update_delete(t, headers, item_id, name, tag, route)
    finally:
        # A no-op DELETE (or an early failure) would leave the item behind.
        delete_quietly(t, headers, [item_id])


def _read_update_delete(
    t: Target, headers: dict[str, str], item_id: Any, name: str, tag: str, route: str
) -> Verdict:
    url = item_url(t, item_id)
    _expect_item(
        item_body(t, url, headers, f"GET {route}"), {"name": name, "tags": [tag]}, f"GET {route}"
    )
    renamed = f"{name}-renamed"
    patched = t.http.patch(url, headers=headers, json={"name": renamed})
    expect_status(patched, 200, f"PATCH {route}")
    _expect_item(
        expect_json_object(patched, f"PATCH {route}"),
        {"id": item_id, "name": renamed},
        f"PATCH {route}",
    )
    _expect_item(
        item_body(t, url, headers, f"GET {route} after PATCH"),
        {"id": item_id, "name": renamed},
        f"GET {route} after PATCH",
    )
    deleted = t.http.delete(url, headers=headers)
    expect_status(deleted, 204, f"DELETE {route}")
    after = t.http.get(url, headers=headers)
    if after.status_code != 404:
        raise ServiceFault(
            f"DELETE {route} answered 204 but GET afterwards answered {after.status_code}, "
            "expected 404",
            delete=exchange(deleted),
            get_after_delete=exchange(after),
        )
    return passed(
        f"POST 201, GET 200, PATCH 200, GET 200, DELETE 204, GET 404 on {route}",
        item_id=item_id,
        last=exchange(after),
    )


def item_body(t: Target, url: str, headers: dict[str, str], what: str) -> dict[str, Any]:
    response = t.http.get(url, headers=headers)
    expect_status(response, 200, what)
    return expect_json_object(response, what)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("smoke.health", "smoke", "Health endpoint answers 200", health),
    CheckSpec("smoke.ping_db", "smoke", "Database ping answers 200", ping_db),
    CheckSpec("smoke.crud_cycle", "smoke", "Create, read, update, delete an item", crud_cycle),
)
