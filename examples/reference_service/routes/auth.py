"""Login, refresh-token rotation and TOTP verification."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ..auth import unauthorized
from ..deps import PrincipalDep, StateDep

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(max_length=1024)
    scope: str | None = Field(None, description="Space-separated subset of the user's scopes")


class RefreshIn(BaseModel):
    refresh_token: str = Field(max_length=512)


class OtpIn(BaseModel):
    code: str = Field(max_length=16)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/login", response_model=TokenPair, summary="Password login")
def login(payload: LoginIn, request: Request, state: StateDep) -> dict[str, object]:
    client = request.client.host if request.client else "unknown"
    # Keyed by username AND address: an attacker spraying one account is slowed down, and a
    # probe with a random username cannot lock the real probe user out.
    config = state.config
    state.limiter.hit(
        "login", f"{payload.username}|{client}", config.login_limit, config.rate_window
    )
    if not state.tokens.check_credentials(payload.username, payload.password):
        raise unauthorized("invalid_credentials", "Username or password is wrong")
    scopes = state.tokens.parse_scope(payload.scope)
    return state.tokens.issue_pair(payload.username, scopes)


@router.post("/refresh", response_model=TokenPair, summary="Rotate a refresh token")
def refresh(payload: RefreshIn, state: StateDep) -> dict[str, object]:
    return state.tokens.rotate(payload.refresh_token)


@router.post("/otp/verify", summary="Verify a TOTP code for the current session")
def verify_otp(payload: OtpIn, principal: PrincipalDep, state: StateDep) -> dict[str, str]:
    config = state.config
    # Per session (sid): a fresh login gets a fresh budget, a brute force within one does not.
    state.limiter.hit("otp", principal.sid, config.otp_limit, config.rate_window)
    state.otp.verify(principal.sub, payload.code)
    return {"status": "verified"}
