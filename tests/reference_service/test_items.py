"""Items over HTTP: CRUD, idempotent creation and keyset pagination under concurrent writes."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any

import httpx
import pytest

from tests.reference_service.test_contract import assert_error_format
from tests.support.refservice import RunningReferenceService


@pytest.fixture
def api(reference_service: RunningReferenceService) -> httpx.Client:
    client = reference_service.client(headers=reference_service.auth_headers())
    return client


def create(api: httpx.Client, name: str, **headers: str) -> httpx.Response:
    return api.post("/items", json={"name": name, "tags": ["t"]}, headers=headers)


def walk(api: httpx.Client, limit: int, during: Any = None) -> list[dict[str, Any]]:
    """Every page in order; `during(page_number)` runs between pages."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    page_number = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = api.get("/items", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen.extend(body["items"])
        cursor = body["next_cursor"]
        page_number += 1
        if cursor is None:
            return seen
        if during:
            during(page_number)


def test_crud_cycle(api: httpx.Client) -> None:
    created = create(api, "first")
    assert created.status_code == 201
    item = created.json()
    assert set(item) == {"id", "name", "tags", "created_at", "updated_at"}
    assert item["created_at"].endswith("Z") and len(item["created_at"]) == 20
    assert created.headers["Location"] == f"/items/{item['id']}"
    assert api.get(f"/items/{item['id']}").json() == item

    patched = api.patch(f"/items/{item['id']}", json={"name": "renamed"})
    assert patched.status_code == 200 and patched.json()["name"] == "renamed"
    assert patched.json()["tags"] == ["t"]
    # The read-through cache was invalidated by the update.
    assert api.get(f"/items/{item['id']}").json()["name"] == "renamed"

    assert api.delete(f"/items/{item['id']}").status_code == 204
    assert assert_error_format(api.get(f"/items/{item['id']}"), 404)["code"] == "item_not_found"
    assert_error_format(api.delete(f"/items/{item['id']}"), 404)
    assert_error_format(api.patch(f"/items/{item['id']}", json={"name": "x"}), 404)


def test_invalid_items_and_paging_parameters_get_422(api: httpx.Client) -> None:
    assert_error_format(api.post("/items", json={"tags": ["no name"]}), 422)
    assert_error_format(api.post("/items", json={"name": "x", "tags": "not-a-list"}), 422)
    for limit in (0, 101, "many"):
        assert_error_format(api.get("/items", params={"limit": limit}), 422)
    assert api.get("/items", params={"limit": 100}).status_code == 200
    bad_cursor = api.get("/items", params={"cursor": "!!not-base64!!"})
    assert assert_error_format(bad_cursor, 422)["code"] == "invalid_cursor"


def test_same_idempotency_key_and_body_replays_the_first_response(api: httpx.Client) -> None:
    key = str(uuid.uuid4())
    first = create(api, "once", **{"Idempotency-Key": key})
    again = create(api, "once", **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    names = [item["name"] for item in walk(api, 100)]
    assert names.count("once") == 1

    changed = create(api, "different body", **{"Idempotency-Key": key})
    assert assert_error_format(changed, 409)["code"] == "idempotency_key_reused"
    # Without a key every POST creates.
    assert create(api, "twice").json()["id"] != create(api, "twice").json()["id"]


def test_keyset_walk_is_exact_with_ties_and_concurrent_inserts_and_deletes(
    reference_service_factory: Any,
) -> None:
    service = reference_service_factory()
    with service.client(headers=service.auth_headers()) as api:
        ids = [create(api, f"item-{n}").json()["id"] for n in range(30)]
        extra: list[str] = []

        def churn(page_number: int) -> None:
            if page_number == 2:
                # Delete some already-returned items and some not yet reached; add new ones.
                for item_id in ids[:3] + ids[-3:]:
                    assert api.delete(f"/items/{item_id}").status_code == 204
                extra.extend(create(api, f"late-{n}").json()["id"] for n in range(5))

        seen = walk(api, 4, during=churn)

    seen_ids = [item["id"] for item in seen]
    counts = Counter(seen_ids)
    assert all(count == 1 for count in counts.values()), "an item was returned twice"
    survivors = set(ids[3:-3])
    assert survivors <= set(seen_ids), "an item that existed throughout was skipped"
    keys = [(item["created_at"], item["id"]) for item in seen]
    assert keys == sorted(keys)
    # A burst of 30 creations shares created_at values: the cursor must tie-break on id.
    assert max(Counter(item["created_at"] for item in seen).values()) > 1


def test_walk_ends_with_a_null_cursor_on_an_exact_page_boundary(
    reference_service_factory: Any,
) -> None:
    service = reference_service_factory()
    with service.client(headers=service.auth_headers()) as api:
        for n in range(6):
            create(api, f"n{n}")
        first = api.get("/items", params={"limit": 3}).json()
        second = api.get("/items", params={"limit": 3, "cursor": first["next_cursor"]}).json()
        assert len(second["items"]) == 3 and second["next_cursor"] is None
        assert api.get("/items", params={"limit": 10}).json()["next_cursor"] is None
