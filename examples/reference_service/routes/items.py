"""Items: CRUD, keyset-paginated listing, and the deprecated v0 listing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from .. import pagination
from ..config import RefConfig
from ..deps import CanRead, CanWrite, StateDep, require_db
from ..errors import ApiError
from ..kv import KVUnavailable
from ..state import ServiceState
from ..store import Page

Tag = Annotated[str, Field(min_length=1, max_length=64)]

# RFC 9745 structured date (2025-01-01) and RFC 8594 HTTP-date for the legacy listing.
DEPRECATION = "@1735689600"
SUNSET = "Thu, 31 Dec 2026 23:59:59 GMT"


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    tags: list[Tag] = Field(default_factory=list, max_length=50)


class ItemPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    tags: list[Tag] | None = Field(None, max_length=50)


class ItemOut(BaseModel):
    id: str
    name: str
    tags: list[str]
    created_at: str = Field(description="ISO 8601, one-second resolution")
    updated_at: str


class ItemPageOut(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None


class LegacyItemList(BaseModel):
    items: list[ItemOut]


def _not_found(item_id: str) -> ApiError:
    return ApiError(404, "item_not_found", "Item not found", details={"id": item_id})


def _create(state: ServiceState, payload: ItemIn) -> tuple[int, dict[str, Any]]:
    item = state.store.create(payload.name, payload.tags)
    return 201, item.as_dict()


def build_router(config: RefConfig) -> APIRouter:
    # The openapi_incomplete flaw hides the /items routes from the schema; they still work.
    documented = not config.has("openapi_incomplete")
    router = APIRouter(tags=["items"], dependencies=[Depends(require_db)])

    @router.post(
        "/items",
        status_code=201,
        response_model=ItemOut,
        include_in_schema=documented,
        summary="Create an item (honours Idempotency-Key)",
    )
    def create_item(
        payload: ItemIn,
        principal: CanWrite,
        state: StateDep,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> JSONResponse:
        if idempotency_key is None or state.config.has("no_idempotency"):
            status, body = _create(state, payload)
            replayed = False
        else:
            status, body, replayed = state.idempotency.run(
                principal.sub,
                idempotency_key,
                payload.model_dump(),
                lambda: _create(state, payload),
            )
        headers = {"Location": f"/items/{body['id']}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return JSONResponse(body, status_code=status, headers=headers)

    @router.get(
        "/items",
        response_model=ItemPageOut,
        include_in_schema=documented,
        summary="List items, keyset-paginated by (created_at, id)",
    )
    def list_items(
        principal: CanRead,
        state: StateDep,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, Query(max_length=512)] = None,
    ) -> dict[str, Any]:
        page: Page
        if state.config.has("offset_pagination"):
            offset = pagination.decode_offset(cursor) if cursor else 0
            page = state.store.page_at_offset(offset, limit)
            next_cursor = pagination.encode_offset(page.next_offset) if page.has_more else None
        else:
            after = pagination.decode_keyset(cursor) if cursor else None
            page = state.store.page_after(after, limit)
            last = page.items[-1].sort_key if page.items else None
            next_cursor = pagination.encode_keyset(last) if page.has_more and last else None
        return {"items": [item.as_dict() for item in page.items], "next_cursor": next_cursor}

    @router.get(
        "/items/{item_id}",
        response_model=ItemOut,
        include_in_schema=documented,
        summary="Read one item (read-through cache)",
    )
    def get_item(item_id: str, principal: CanRead, state: StateDep) -> dict[str, Any]:
        if state.config.has("redis_hard_dependency"):
            try:
                state.kv.ping()
            except KVUnavailable:
                raise ApiError(503, "cache_unavailable", "Cache unavailable") from None
        item = state.cache.get(item_id)
        if item is None:
            raise _not_found(item_id)
        return item.as_dict()

    @router.patch(
        "/items/{item_id}",
        response_model=ItemOut,
        include_in_schema=documented,
        summary="Update an item's name and/or tags",
    )
    def update_item(
        item_id: str, payload: ItemPatch, principal: CanWrite, state: StateDep
    ) -> dict[str, Any]:
        item = state.store.update(
            item_id, payload.model_dump(exclude_unset=True, exclude_none=True)
        )
        if item is None:
            raise _not_found(item_id)
        state.cache.invalidate(item_id)
        return item.as_dict()

    @router.delete(
        "/items/{item_id}",
        status_code=204,
        response_class=Response,
        include_in_schema=documented,
        summary="Delete an item",
    )
    def delete_item(item_id: str, principal: CanWrite, state: StateDep) -> Response:
        if state.config.has("crud_delete_noop"):
            if state.store.get(item_id) is None:
                raise _not_found(item_id)
            return Response(status_code=204)
        if not state.store.delete(item_id):
            raise _not_found(item_id)
        state.cache.invalidate(item_id)
        return Response(status_code=204)

    @router.get(
        "/v0/items",
        response_model=LegacyItemList,
        deprecated=True,
        summary="Legacy listing (skip/limit); use GET /items",
    )
    def list_items_v0(
        response: Response,
        principal: CanRead,
        state: StateDep,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> dict[str, Any]:
        if not state.config.has("no_deprecation_header"):
            response.headers["Deprecation"] = DEPRECATION
            response.headers["Sunset"] = SUNSET
            response.headers["Link"] = '</items>; rel="successor-version"'
        page = state.store.page_at_offset(offset, limit)
        return {"items": [item.as_dict() for item in page.items]}

    return router
