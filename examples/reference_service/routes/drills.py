"""Drill hooks under /__drill/: break and restore dependencies so every drill runs locally.

Guarded by REF_DRILL_TOKEN; without one configured the hooks do not exist (404), so a
service started without drills cannot be broken over HTTP.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header
from pydantic import BaseModel, Field

from ..deps import StateDep
from ..errors import ApiError


def require_drill_token(
    state: StateDep, authorization: Annotated[str | None, Header()] = None
) -> None:
    token = state.config.drill_token
    if token is None:
        raise ApiError(404, "not_found", "Not Found")
    expected = f"Bearer {token}".encode()
    if authorization is None or not hmac.compare_digest(authorization.encode(), expected):
        raise ApiError(
            401, "unauthorized", "Drill token required", headers={"WWW-Authenticate": "Bearer"}
        )


router = APIRouter(
    prefix="/__drill",
    tags=["drills"],
    include_in_schema=False,
    dependencies=[Depends(require_drill_token)],
)


class Switch(BaseModel):
    state: Literal["down", "up"]


class ErrorRate(BaseModel):
    rate: float = Field(ge=0.0, le=1.0)


class Release(BaseModel):
    canary_version: str = Field(min_length=1, max_length=100)
    weight: int = Field(ge=0, le=100)


@router.get("/state")
def drill_state(state: StateDep) -> dict[str, Any]:
    return state.drills.snapshot()


@router.post("/redis")
def drill_redis(payload: Switch, state: StateDep) -> dict[str, Any]:
    state.drills.set_redis(payload.state == "down")
    return state.drills.snapshot()


@router.post("/db")
def drill_db(payload: Switch, state: StateDep) -> dict[str, Any]:
    state.drills.set_db(payload.state == "down")
    return state.drills.snapshot()


@router.post("/errors")
def drill_errors(payload: ErrorRate, state: StateDep) -> dict[str, Any]:
    state.drills.set_error_rate(payload.rate)
    return state.drills.snapshot()


@router.post("/release")
def drill_release(payload: Release, state: StateDep) -> dict[str, Any]:
    if payload.weight == 0 and state.config.has("canary_stuck"):
        return state.drills.snapshot()  # the flaw: the rollback is accepted and ignored
    state.drills.set_release(payload.canary_version, payload.weight)
    return state.drills.snapshot()
