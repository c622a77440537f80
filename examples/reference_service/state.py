"""Everything one app instance owns, built once by create_app and reached through the request."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from .auth import OtpVerifier, TokenService
from .cache import ItemCache
from .config import RefConfig
from .drills import DrillState
from .idempotency import IdempotencyStore
from .kv import GuardedKV, build_kv
from .metrics import Metrics
from .ratelimit import RateLimiter
from .store import ItemStore


@dataclass
class ServiceState:
    config: RefConfig
    metrics: Metrics
    drills: DrillState
    store: ItemStore
    kv: GuardedKV
    cache: ItemCache
    limiter: RateLimiter
    tokens: TokenService
    otp: OtpVerifier
    idempotency: IdempotencyStore

    @classmethod
    def build(cls, config: RefConfig) -> ServiceState:
        metrics = Metrics(complete=not config.has("metrics_incomplete"))
        drills = DrillState()
        store = ItemStore(metrics, drills)
        kv = build_kv(config.redis_url, drills)
        return cls(
            config=config,
            metrics=metrics,
            drills=drills,
            store=store,
            kv=kv,
            cache=ItemCache(kv, store, metrics, config.cache_ttl),
            limiter=RateLimiter(kv, metrics, enabled=not config.has("no_rate_limit")),
            tokens=TokenService(config),
            otp=OtpVerifier(config.otp_secret, allow_reuse=config.has("otp_reuse")),
            idempotency=IdempotencyStore(),
        )


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.ref
    return state
