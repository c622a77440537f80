"""An internal widgets API behind a gateway: a static ``X-API-Key`` header.

Machine clients may instead send ``Authorization: Bearer <jwt>`` issued by the company's OAuth2
client-credentials endpoint (``token_server``), verified with the issuer's key. The team built
it carefully: health and readiness routes, Prometheus metrics (latency histogram, requests by
status; no cache, so no cache counters), request ids (generated, echoed), security headers,
CORS for its console only, a 1 MiB body limit, ``Idempotency-Key`` on create, a deprecated
listing that sends ``Deprecation`` and ``Sunset``. Pagination is by page number
(``page``/``size`` → ``{"items", "total", "page", "size", "pages"}``, as fastapi-pagination
shapes it); errors are FastAPI's ``{"detail": ...}``; 201 on create, PATCH, 204 on delete.

Environment: ``API_KEY``, ``ISSUER_SECRET`` (optional: accept bearer JWTs signed with it,
audience ``widgets``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel, Field

from tests.support.realsvc.serve import serve

API_KEY = os.environ["API_KEY"]
ISSUER_SECRET = os.environ.get("ISSUER_SECRET")
MAX_BODY_BYTES = 1024 * 1024

registry = CollectorRegistry()
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Request latency",
    ["method", "route"],
    registry=registry,
)
REQUESTS = Counter(
    "http_requests_total", "Requests by status", ["method", "route", "status"], registry=registry
)

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
bearer = HTTPBearer(auto_error=False, description="Tokens from the client-credentials endpoint")


def caller(
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    if key is not None:
        if hmac.compare_digest(key.encode(), API_KEY.encode()):
            return "api-key"
        raise HTTPException(status_code=401, detail="Invalid API key")
    if token is not None and ISSUER_SECRET:
        try:
            claims = jwt.decode(
                token.credentials, ISSUER_SECRET, algorithms=["HS256"], audience="widgets"
            )
        except jwt.InvalidTokenError:
            raise HTTPException(status_code=401, detail="Invalid token") from None
        return f"client:{claims.get('sub')}"
    raise HTTPException(status_code=401, detail="Missing API key")


Caller = Annotated[str, Depends(caller)]


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    color: str = Field(default="grey", max_length=20)
    weight_grams: int = Field(ge=0, le=100000)


class WidgetPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    color: str | None = Field(default=None, max_length=20)
    weight_grams: int | None = Field(default=None, ge=0, le=100000)


class Widget(WidgetIn):
    id: str
    created_at: datetime
    updated_at: datetime


class WidgetPage(BaseModel):
    items: list[Widget]
    total: int
    page: int
    size: int
    pages: int


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.widgets: dict[str, dict[str, Any]] = {}
        self.replays: dict[str, tuple[str, int, dict[str, Any]]] = {}


store = Store()
app = FastAPI(title="Widgets", version="2.4.1")


@app.middleware("http")
async def envelope(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Any:
    started = time.perf_counter()
    request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        response: Response = JSONResponse({"detail": "Request body too large"}, status_code=413)
    else:
        response = await call_next(request)
    route = getattr(request.scope.get("route"), "path", "unmatched")
    LATENCY.labels(request.method, route).observe(time.perf_counter() - started)
    REQUESTS.labels(request.method, route, str(response.status_code)).inc()
    response.headers["X-Request-ID"] = request_id
    response.headers["Content-Security-Policy"] = "default-src 'none'"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    return response


app.add_middleware(
    CORSMiddleware,
    allow_origins=["https://console.widgets.example"],
    allow_methods=["GET", "POST", "PATCH", "DELETE"],
    allow_headers=["X-API-Key", "Content-Type"],
)


@app.get("/healthz", tags=["ops"])
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/readyz", tags=["ops"])
def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/metrics", tags=["ops"])
def metrics() -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


@app.get("/v1/widgets", response_model=WidgetPage, tags=["widgets"])
def list_widgets(
    _caller: Caller,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Any:
    with store.lock:
        everything = sorted(store.widgets.values(), key=lambda w: (w["created_at"], w["id"]))
    start = (page - 1) * size
    return {
        "items": everything[start : start + size],
        "total": len(everything),
        "page": page,
        "size": size,
        "pages": math.ceil(len(everything) / size),
    }


@app.get("/v1/widgets-legacy", deprecated=True, tags=["widgets"])
def list_widgets_legacy(_caller: Caller, response: Response) -> list[dict[str, Any]]:
    """The v0 listing, kept for the old console until its sunset."""
    response.headers["Deprecation"] = "@1767225600"
    response.headers["Sunset"] = "Wed, 30 Dec 2026 23:59:59 GMT"
    response.headers["Link"] = '</v1/widgets>; rel="successor-version"'
    with store.lock:
        return list(store.widgets.values())


@app.post("/v1/widgets", response_model=Widget, status_code=201, tags=["widgets"])
def create_widget(
    payload: WidgetIn,
    _caller: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=100)] = None,
) -> Any:
    fingerprint = hashlib.sha256(json.dumps(payload.model_dump(), sort_keys=True).encode())
    with store.lock:
        if idempotency_key is not None and idempotency_key in store.replays:
            seen, status, body = store.replays[idempotency_key]
            if seen != fingerprint.hexdigest():
                raise HTTPException(status_code=409, detail="Idempotency-Key reused")
            return JSONResponse(body, status_code=status)
        now = datetime.now(UTC)
        widget = {**payload.model_dump(), "id": uuid.uuid4().hex, "created_at": now}
        widget["updated_at"] = now
        store.widgets[widget["id"]] = widget
        body = Widget(**widget).model_dump(mode="json")
        if idempotency_key is not None:
            store.replays[idempotency_key] = (fingerprint.hexdigest(), 201, body)
    return widget


def _widget(widget_id: str) -> dict[str, Any]:
    widget = store.widgets.get(widget_id)
    if widget is None:
        raise HTTPException(status_code=404, detail="Widget not found")
    return widget


@app.get("/v1/widgets/{widget_id}", response_model=Widget, tags=["widgets"])
def read_widget(widget_id: str, _caller: Caller) -> Any:
    return _widget(widget_id)


@app.patch("/v1/widgets/{widget_id}", response_model=Widget, tags=["widgets"])
def update_widget(widget_id: str, payload: WidgetPatch, _caller: Caller) -> Any:
    with store.lock:
        widget = _widget(widget_id)
        widget.update(payload.model_dump(exclude_unset=True), updated_at=datetime.now(UTC))
    return widget


@app.delete("/v1/widgets/{widget_id}", status_code=204, tags=["widgets"])
def delete_widget(widget_id: str, _caller: Caller) -> Response:
    with store.lock:
        _widget(widget_id)
        del store.widgets[widget_id]
    return Response(status_code=204)


if __name__ == "__main__":
    serve(app)
