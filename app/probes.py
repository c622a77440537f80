"""The probes (/health, /ready, /metrics) as operations of the API's document: served by
django-ninja like the API's own routes, with their answers described by the models below, so
that the generated OpenAPI document covers every route a client or the ``api.openapi`` check
expects. app/urls.py mounts this router on the API (``api.add_router``)."""

from __future__ import annotations

from typing import Literal

from ninja import Router
from pydantic import BaseModel, ConfigDict

from app.health import health, ready
from core.metrics import metrics_view


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok"]


class ReadyState(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["ok", "unavailable"]
    checks: dict[str, str]


PUBLIC = "No authentication."
router = Router(auth=None)
router.add_api_operation(
    "/health",
    ["GET"],
    health,
    response={200: Health},
    operation_id="health",
    summary="Liveness: the process answers",
    description=PUBLIC,
)
router.add_api_operation(
    "/ready",
    ["GET"],
    ready,
    response={200: ReadyState, 503: ReadyState},
    operation_id="ready",
    summary="Readiness: database and broker answer (within about a second)",
    description=PUBLIC + " 503 when a part is down; checks says which.",
)
router.add_api_operation(
    "/metrics",
    ["GET"],
    metrics_view,
    response={200: None, 401: None},
    operation_id="metrics",
    summary="Prometheus metrics (text format)",
    description="No authentication, unless PREFLIGHT_METRICS_TOKEN is set: then that bearer "
    "token (401 otherwise).",
    openapi_extra={"responses": {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}},
)
