"""Operational endpoints: liveness, database ping, readiness, version, metrics."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import StateDep
from ..errors import ApiError
from ..kv import KVUnavailable

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Liveness: touches no downstream")
def health(state: StateDep) -> dict[str, str]:
    if state.config.has("health_down"):
        raise ApiError(500, "unhealthy", "Service reports itself unhealthy")
    return {"status": "ok"}


@router.get("/ping-db", summary="Database round trip")
def ping_db(state: StateDep) -> dict[str, Any]:
    if state.config.has("ping_db_broken"):
        raise ApiError(503, "db_unavailable", "Database did not answer")
    started = time.perf_counter()
    state.store.ping()
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 3)}


@router.get("/ready", summary="Readiness: database and cache answer")
def ready(state: StateDep) -> dict[str, Any]:
    checks: dict[str, str] = {}
    try:
        if not state.config.has("ready_ignores_db"):
            state.store.ping()
        checks["db"] = "ok"
    except ApiError:
        checks["db"] = "unavailable"
    try:
        state.kv.ping()
        checks["cache"] = "ok"
    except KVUnavailable:
        checks["cache"] = "unavailable"
    if any(value != "ok" for value in checks.values()):
        raise ApiError(503, "not_ready", "A dependency is unavailable", details=checks)
    return {"status": "ready", "checks": checks}


@router.get("/version", summary="Version serving this request")
def version(request: Request) -> dict[str, str]:
    # The envelope middleware picked the version (stable or canary) for this very request.
    return {"version": str(request.state.app_version)}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(state: StateDep) -> Response:
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
