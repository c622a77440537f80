"""Tokens and one-time codes: JWT access tokens, rotating refresh tokens, TOTP with replay guard."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import pyotp

from .config import RefConfig
from .errors import ApiError

USER_SCOPES = ("items:read", "items:write")
_ALGORITHM = "HS256"
_BEARER = {"WWW-Authenticate": "Bearer"}


def unauthorized(code: str, message: str) -> ApiError:
    return ApiError(401, code, message, headers=_BEARER)


@dataclass(frozen=True)
class Principal:
    sub: str
    scopes: frozenset[str]
    sid: str
    jti: str


@dataclass
class _RefreshGrant:
    sub: str
    scopes: tuple[str, ...]
    sid: str
    expires_at: float
    used: bool = False


class TokenService:
    def __init__(self, config: RefConfig) -> None:
        self._config = config
        # A random per-process secret is fine for a reference service: tokens die with it.
        self._secret = config.jwt_secret or secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._refresh: dict[str, _RefreshGrant] = {}

    def check_credentials(self, username: str, password: str) -> bool:
        # compare_digest on both so timing reveals neither a valid username nor the password.
        user_ok = hmac.compare_digest(username.encode(), self._config.probe_username.encode())
        pass_ok = hmac.compare_digest(password.encode(), self._config.probe_password.encode())
        return user_ok and pass_ok

    @staticmethod
    def parse_scope(requested: str | None) -> tuple[str, ...]:
        if requested is None or not requested.strip():
            return USER_SCOPES
        wanted = requested.split()
        unknown = sorted(set(wanted) - set(USER_SCOPES))
        if unknown:
            raise ApiError(
                400,
                "invalid_scope",
                "Requested scope is not granted to this user",
                details={"unknown": unknown, "available": list(USER_SCOPES)},
            )
        return tuple(scope for scope in USER_SCOPES if scope in wanted)

    def issue_pair(
        self, sub: str, scopes: tuple[str, ...], sid: str | None = None
    ) -> dict[str, Any]:
        sid = sid or uuid.uuid4().hex
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": sub,
            "scope": " ".join(scopes),
            "sid": sid,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "typ": "access",
        }
        if not self._config.has("jwt_no_exp"):
            claims["exp"] = now + self._config.access_ttl
        access = jwt.encode(claims, self._secret, algorithm=_ALGORITHM)
        refresh = secrets.token_urlsafe(32)
        with self._lock:
            self._prune(now)
            self._refresh[refresh] = _RefreshGrant(
                sub=sub, scopes=scopes, sid=sid, expires_at=now + self._config.refresh_ttl
            )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": self._config.access_ttl,
        }

    def rotate(self, refresh_token: str) -> dict[str, Any]:
        """Trade a refresh token for a new pair; each refresh token works exactly once."""
        now = time.time()
        with self._lock:
            grant = self._refresh.get(refresh_token)
            if grant is None or grant.expires_at <= now:
                raise unauthorized("invalid_refresh_token", "Refresh token is invalid or expired")
            if grant.used and not self._config.has("refresh_reuse"):
                raise unauthorized("refresh_token_reused", "Refresh token was already used")
            grant.used = True
        return self.issue_pair(grant.sub, grant.scopes, grant.sid)

    def verify_access(self, token: str) -> Principal:
        required = ["sub", "scope", "sid", "jti"]
        if not self._config.has("jwt_no_exp"):
            required.append("exp")
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[_ALGORITHM], options={"require": required}
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("token_expired", "Access token has expired") from None
        except jwt.PyJWTError:
            raise unauthorized("invalid_token", "Access token is invalid") from None
        if claims.get("typ") != "access":
            raise unauthorized("invalid_token", "Not an access token")
        return Principal(
            sub=str(claims["sub"]),
            scopes=frozenset(str(claims["scope"]).split()),
            sid=str(claims["sid"]),
            jti=str(claims["jti"]),
        )

    def _prune(self, now: float) -> None:
        expired = [key for key, grant in self._refresh.items() if grant.expires_at <= now]
        for key in expired:
            del self._refresh[key]


class _EnrolledTotp(pyotp.TOTP):
    """pyotp refuses secrets under 112 bits; secrets enrolled before that (80-bit ones were
    common) still verify here, so a client can judge such a secret rather than crash on it."""

    min_secret_length_bits = 80


class OtpVerifier:
    """RFC 6238 TOTP (6 digits, 30 s) accepting one step of clock drift either way.

    Replay guard: a code is refused unless its time step is later than the last accepted step
    for that user, so a code (or an older one) can never be used twice.
    """

    def __init__(self, secret: str, *, allow_reuse: bool = False) -> None:
        self._totp = _EnrolledTotp(secret)
        self._allow_reuse = allow_reuse
        self._lock = threading.Lock()
        self._last_step: dict[str, int] = {}

    def verify(self, user: str, code: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        current = int(now) // self._totp.interval
        step = self._matching_step(code.strip(), current)
        if step is None:
            raise unauthorized("invalid_code", "One-time code is invalid")
        with self._lock:
            if not self._allow_reuse and step <= self._last_step.get(user, -1):
                raise unauthorized("code_reused", "One-time code was already used")
            self._last_step[user] = max(step, self._last_step.get(user, -1))

    def _matching_step(self, code: str, current: int) -> int | None:
        if len(code) != self._totp.digits or not code.isdigit():
            return None
        for step in (current - 1, current, current + 1):
            expected = self._totp.at(step * self._totp.interval)
            if hmac.compare_digest(code, expected):
                return step
        return None
