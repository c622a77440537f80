"""Pure ASGI middleware: the rules every response follows, applied outside the routes.

Pure ASGI (not BaseHTTPMiddleware) so that streamed request bodies can be counted and the
response headers are set on the `http.response.start` message of every response, including
the ones FastAPI's own error handlers produce.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError, error_response
from .state import ServiceState

access_log = logging.getLogger("reference_service.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_SECURITY_HEADERS = {
    # A JSON API renders nothing, so the strictest policy costs nothing.
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_HSTS = "max-age=31536000; includeSubDomains"
_CORS_METHODS = "GET, POST, PATCH, DELETE, OPTIONS"
_CORS_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
_CORS_EXPOSE = "X-Request-ID, X-App-Version, Retry-After, Deprecation, Sunset, Link"


def _route_label(scope: Scope) -> str:
    # The route template, never the raw path: item ids would explode label cardinality.
    route = scope.get("route")
    return str(getattr(route, "path", None) or "unmatched")


class EnvelopeMiddleware:
    """Request id, served version, security headers, HSTS, metrics and one JSON access log line."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        config = self.state.config
        sent_id = Headers(scope=scope).get("x-request-id", "")
        request_id = sent_id if _REQUEST_ID.match(sent_id) else uuid.uuid4().hex
        version = self.state.drills.pick_version(config.version)
        request_state = scope.setdefault("state", {})
        request_state["request_id"] = request_id
        request_state["app_version"] = version

        extra: dict[str, str] = {"X-App-Version": version}
        if not config.has("no_request_id"):
            extra["X-Request-ID"] = request_id
        if not config.has("no_security_headers"):
            extra.update(_SECURITY_HEADERS)
        if scope.get("scheme") == "https" and not config.has("no_hsts"):
            extra["Strict-Transport-Security"] = _HSTS

        status = 500
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                for name, value in extra.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_label(scope)
            self.state.metrics.observe_request(scope["method"], route, status, version, elapsed)
            access_log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "version": version,
                    }
                )
            )


class HttpsRedirectMiddleware:
    """Answers every plain request with 301 to the same path on the TLS instance."""

    def __init__(self, app: ASGIApp, target: str) -> None:
        self.app = app
        self.target = target.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        url = self.target + scope["path"] + (f"?{query}" if query else "")
        await RedirectResponse(url, status_code=301)(scope, receive, send)


class CorsMiddleware:
    """Allow-list CORS. Written out rather than Starlette's so refusals use the error format."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.origins = frozenset(state.config.allowed_origins)
        self.wildcard = state.config.has("cors_wildcard")
        self.plain = state.config.has("plain_errors")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None and not self.wildcard:
            await self.app(scope, receive, send)
            return
        allowed = self.wildcard or origin in self.origins
        is_preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if is_preflight:
            response: Response
            if allowed:
                response = Response(status_code=204)
                response.headers.update(
                    {
                        "Access-Control-Allow-Methods": _CORS_METHODS,
                        "Access-Control-Allow-Headers": _CORS_HEADERS,
                        "Access-Control-Max-Age": "600",
                    }
                )
                self._decorate(response.headers, origin)
            else:
                response = error_response(
                    403,
                    "cors_origin_not_allowed",
                    "Origin is not allowed",
                    details={"origin": origin},
                    plain=self.plain,
                )
                response.headers.add_vary_header("Origin")
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                if allowed:
                    self._decorate(response_headers, origin)
                else:
                    response_headers.add_vary_header("Origin")
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _decorate(self, headers: MutableHeaders, origin: str | None) -> None:
        if self.wildcard:
            headers["Access-Control-Allow-Origin"] = "*"
        else:
            assert origin is not None
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            # The answer depends on the Origin header, so shared caches must key on it.
            headers.add_vary_header("Origin")
        headers["Access-Control-Expose-Headers"] = _CORS_EXPOSE


class BodyTooLarge(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413,
            "payload_too_large",
            f"Request body exceeds {limit} bytes",
            details={"limit_bytes": limit},
        )


SLOW_REQUEST_S = 0.05
# The most an oversized upload is read (and dropped) for, so its 413 arrives intact.
DRAIN_CAP = 16 * 1024 * 1024


class BodyLimitMiddleware:
    """413 for bodies over the limit: by Content-Length up front, and by counting chunks.

    Counting matters because a chunked upload has no Content-Length to refuse early. The
    counting receive raises an HTTPException, which FastAPI re-raises from body parsing, so
    its exception handlers render the 413 in the error format.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.limit = state.config.body_limit
        self.plain = state.config.has("plain_errors")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if response_started:
                raise
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        exc = BodyTooLarge(self.limit)
        response = error_response(413, exc.code, exc.message, details=exc.details, plain=self.plain)
        # Read and discard the rest of the upload (bounded) before answering: a server that
        # answers and closes with unread bytes makes the kernel reset the connection, and the
        # client then sees "connection reset" instead of the 413.
        if not await self._drain(receive, cap=DRAIN_CAP):
            response.headers["Connection"] = "close"
        await response(scope, receive, send)

    @staticmethod
    async def _drain(receive: Receive, *, cap: int) -> bool:
        """Consume the request body up to ``cap`` bytes; True when it was read to the end."""
        drained = 0
        while drained <= cap:
            message = await receive()
            if message["type"] != "http.request":
                return False
            drained += len(message.get("body", b""))
            if not message.get("more_body", False):
                return True
        return False


class ErrorInjectionMiddleware:
    """The errors drill: a share of requests answers 500. Also the `slow` flaw.

    /__drill/ stays reachable to end the drill, and /metrics stays up so Prometheus can see the
    error rate that the drill exists to make it alert on.
    """

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state
        # The `slow` flaw: one request at a time, so the service cannot hold a higher rate.
        self.slow = asyncio.Lock() if state.config.has("slow") else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        exempt = path.startswith("/__drill/") or path == "/metrics"
        if not exempt and self.slow is not None:
            async with self.slow:
                await asyncio.sleep(SLOW_REQUEST_S)
        if not exempt and self.state.drills.should_fail():
            response = error_response(
                500,
                "injected_error",
                "Injected failure (errors drill)",
                plain=self.state.config.has("plain_errors"),
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
