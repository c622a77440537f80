"""The app factory: wires the state, routers, error handlers and middleware for one config."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from .config import RefConfig
from .errors import install_error_handlers
from .kv import RedisKV
from .middleware import (
    BodyLimitMiddleware,
    CorsMiddleware,
    EnvelopeMiddleware,
    ErrorInjectionMiddleware,
    HttpsRedirectMiddleware,
)
from .routes import auth, drills, items, ops
from .state import ServiceState


def create_app(config: RefConfig) -> FastAPI:
    state = ServiceState.build(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if isinstance(state.kv.backend, RedisKV):
            state.kv.backend.close()

    app = FastAPI(
        title="Preflight reference service",
        version=config.version,
        description="Implements the reference API that Preflight's checks assume.",
        # Swagger UI loads scripts from a CDN, which the strict CSP forbids; the document is
        # what matters and stays at /openapi.json.
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.ref = state
    if not config.has("plain_errors"):
        install_error_handlers(app)

    app.include_router(ops.router)
    app.include_router(auth.router)
    app.include_router(items.build_router(config))
    app.include_router(drills.router)

    # add_middleware puts each new one outermost, so this list reads from the inside out:
    # body limit → error injection → CORS → HTTPS redirect → envelope (headers, metrics, ids).
    if not config.has("no_body_limit"):
        app.add_middleware(BodyLimitMiddleware, state=state)
    app.add_middleware(ErrorInjectionMiddleware, state=state)
    app.add_middleware(CorsMiddleware, state=state)
    if config.https_redirect_to:
        app.add_middleware(HttpsRedirectMiddleware, target=config.https_redirect_to)
    app.add_middleware(EnvelopeMiddleware, state=state)
    return app
