"""Authentication checks: the JWT lifecycle and one-time codes (TOTP)."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp

from checks.catalog._util import (
    ServiceFault,
    bearer,
    create_item,
    delete_quietly,
    exchange,
    expect_json_object,
    expect_status,
    forge_jwt,
    json_body,
    jwt_claims,
    unique_tag,
    verdict,
)
from checks.engine.outcome import MissingSetting, Verdict, errored, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

# Clock skew tolerated between us and the service when judging iat/exp.
SKEW_S = 5
# Statuses that mean "refused" for a spent refresh token (401 per the reference API; 400 is
# OAuth's invalid_grant and 403 is also a refusal).
REFUSED = (400, 401, 403)

# --- auth.jwt_flow ---


def _token_pair(t: Target) -> tuple[dict[str, Any], httpx.Response]:
    response = t.login()
    what = f"POST {t.profile.paths.login}"
    expect_status(response, 200, what)
    pair = expect_json_object(response, what)
    for key in ("access_token", "refresh_token"):
        if not isinstance(pair.get(key), str) or not pair[key]:
            raise ServiceFault(f"{what} answered 200 without {key}", response=exchange(response))
    return pair, response


def _judge_lifetime(t: Target, claims: dict[str, Any] | None) -> dict[str, Any]:
    """Fail unless the access token is a JWT whose exp lies within the allowed lifetime."""
    if claims is None:
        raise ServiceFault("the access token is not a JWT with a JSON payload")
    shown = {k: claims.get(k) for k in ("exp", "iat", "scope") if k in claims}
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise ServiceFault("the access token carries no numeric exp claim", claims=shown)
    now = time.time()
    iat = claims.get("iat")
    issued = float(iat) if isinstance(iat, int | float) else now
    lifetime = exp - issued
    allowed = t.profile.auth.max_token_lifetime_s
    if lifetime > allowed + SKEW_S or exp - now > allowed + SKEW_S:
        raise ServiceFault(
            f"the access token lives {int(lifetime)} s, more than the allowed {allowed} s",
            claims=shown,
        )
    if exp <= now - SKEW_S:
        raise ServiceFault("a freshly issued access token is already expired", claims=shown)
    return {"claims": shown, "lifetime_s": int(lifetime)}


def _judge_refresh(t: Target, refresh_token: str) -> dict[str, Any]:
    """The refresh token works once; the second use is refused."""
    url, route = t.url(t.profile.paths.refresh), f"POST {t.profile.paths.refresh}"
    first = t.http.post(url, json={"refresh_token": refresh_token})
    expect_status(first, 200, route)
    if not isinstance(expect_json_object(first, route).get("access_token"), str):
        raise ServiceFault(
            f"{route} answered 200 without a new access_token", response=exchange(first)
        )
    again = t.http.post(url, json={"refresh_token": refresh_token})
    if again.status_code not in REFUSED:
        raise ServiceFault(
            f"{route} accepted a refresh token a second time (answered {again.status_code}, "
            "expected 401): refresh tokens must rotate",
            first_use=exchange(first),
            second_use=exchange(again),
        )
    return {"refresh": exchange(first), "refresh_reuse": exchange(again)}


def _judge_scope(t: Target, full_headers: dict[str, str]) -> dict[str, Any]:
    """A token holding only the read scope must not be allowed to write."""
    read_only = t.access_token(t.profile.auth.read_scope)
    claims = jwt_claims(read_only) or {}
    tag = unique_tag("scope")
    response = create_item(t, bearer(read_only), name=tag, tags=[tag])
    if response.status_code == 201:
        delete_quietly(t, full_headers, [(json_body(response) or {}).get("id")])
    if response.status_code != 403:
        raise ServiceFault(
            f"POST {t.profile.paths.items} with a token scoped "
            f"{t.profile.auth.read_scope!r} answered {response.status_code}, expected 403",
            token_scope=claims.get("scope"),
            response=exchange(response),
        )
    return {"missing_scope": exchange(response)}


def _bad_tokens(access_token: str, claims: dict[str, Any]) -> dict[str, str]:
    """Tokens a service must refuse. A correctly signed expired token would need the signing
    key, so "expired" keeps the real signature over a payload whose exp is in the past."""
    past = int(time.time()) - 3600
    expired = {**claims, "iat": past - 60, "exp": past}
    return {
        "garbage": "not.a.jwt",
        "expired (re-stamped, original signature)": forge_jwt(access_token, expired),
        "unsigned (alg none)": forge_jwt(access_token, claims, unsigned=True),
    }


def _judge_bad_tokens(t: Target, access_token: str, claims: dict[str, Any]) -> dict[str, Any]:
    url = t.url(t.profile.paths.items)
    params = {"limit": 1}
    good = t.http.get(url, headers=bearer(access_token), params=params)
    # Without this, 401s below could come from a listing that refuses everyone.
    expect_status(good, 200, f"GET {t.profile.paths.items} with a fresh access token")
    shown: dict[str, Any] = {}
    for label, token in _bad_tokens(access_token, claims).items():
        response = t.http.get(url, headers=bearer(token), params=params)
        shown[label] = exchange(response)
        if response.status_code != 401:
            raise ServiceFault(
                f"GET {t.profile.paths.items} with a {label} token answered "
                f"{response.status_code}, expected 401",
                response=shown[label],
            )
    return {"bad_tokens": shown}


@verdict
def jwt_flow(t: Target) -> Verdict:
    pair, login = _token_pair(t)
    claims = jwt_claims(pair["access_token"])
    evidence: dict[str, Any] = {"login": exchange(login)}
    evidence.update(_judge_lifetime(t, claims))
    evidence.update(_judge_refresh(t, pair["refresh_token"]))
    evidence.update(_judge_scope(t, bearer(pair["access_token"])))
    evidence.update(_judge_bad_tokens(t, pair["access_token"], claims or {}))
    return passed(
        "login gave access + refresh; exp within the allowed lifetime; refresh worked once and "
        "its reuse was refused; a token without the write scope got 403; garbage, expired and "
        "unsigned tokens got 401",
        **evidence,
    )


# --- auth.otp_flow ---


def totp_for(t: Target) -> pyotp.TOTP:
    if t.profile.auth.username is None:
        raise MissingSetting("auth.username", "needed to log in")
    secret = t.profile.auth.otp_secret
    if secret is None:
        raise MissingSetting("auth.otp_secret", "needed to compute one-time codes")
    return pyotp.TOTP(secret)


def fresh_session(t: Target) -> str:
    """A login of its own: OTP attempts are limited per session, so never spend the shared
    token's budget (nor let another check spend ours)."""
    response = t.login()
    what = f"POST {t.profile.paths.login}"
    expect_status(response, 200, what)
    token = expect_json_object(response, what).get("access_token")
    if not isinstance(token, str):
        raise ServiceFault(f"{what} answered 200 without access_token", response=exchange(response))
    return token


def invalid_code(totp: pyotp.TOTP, now: float) -> str:
    """A six-digit code valid for no step near ``now`` (so never accepted by accident)."""
    step = int(now) // totp.interval
    near = {totp.generate_otp(step + d) for d in range(-3, 4)}
    code = 0
    while f"{code:06d}" in near:
        code += 1
    return f"{code:06d}"


class _Otp:
    """Submits codes for one session and keeps the exchanges for evidence."""

    def __init__(self, t: Target, token: str) -> None:
        self.t, self.headers = t, bearer(token)
        self.url = t.url(t.profile.paths.otp_verify)
        self.route = f"POST {t.profile.paths.otp_verify}"
        self.log: list[dict[str, Any]] = []

    def submit(self, code: str, label: str) -> httpx.Response:
        response = self.t.http.post(self.url, headers=self.headers, json={"code": code})
        self.log.append({"attempt": label, **exchange(response)})
        if response.status_code == 429:
            # Our own fresh session ran out of attempts: the check cannot decide.
            raise _OtpBudgetSpent()
        return response


class _OtpBudgetSpent(Exception):
    pass


def _accept_valid(otp: _Otp, totp: pyotp.TOTP) -> tuple[str, httpx.Response]:
    """Submit a currently valid code. The service refuses any step at or before the last one
    it accepted, so a run seconds after another (whose code used this step) tries the next
    step, and failing that waits for the following step to come within the window."""
    step = int(time.time()) // totp.interval
    for offset in (0, 1):
        code = totp.generate_otp(step + offset)
        response = otp.submit(code, f"valid code, step {offset:+d}")
        if response.status_code != 401:  # accepted, or broken in a way waiting won't fix
            return code, response
    time.sleep(max(0.0, (step + 1) * totp.interval - time.time()) + 0.5)
    code = totp.generate_otp(step + 2)
    response = otp.submit(code, "valid code, next step")
    return code, response


@verdict
def otp_flow(t: Target) -> Verdict:
    totp = totp_for(t)
    otp = _Otp(t, fresh_session(t))
    try:
        code, accepted = _accept_valid(otp, totp)
        if accepted.status_code != 200:
            raise ServiceFault(
                f"{otp.route} refused currently valid TOTP codes (last answer "
                f"{accepted.status_code}, expected 200)",
                attempts=otp.log,
            )
        reused = otp.submit(code, "reused code")
        if reused.status_code != 401:
            raise ServiceFault(
                f"{otp.route} answered {reused.status_code} to a code it had just accepted, "
                "expected 401",
                attempts=otp.log,
            )
        wrong = otp.submit(invalid_code(totp, time.time()), "invalid code")
        if wrong.status_code != 401:
            raise ServiceFault(
                f"{otp.route} answered {wrong.status_code} to an invalid code, expected 401",
                attempts=otp.log,
            )
    except _OtpBudgetSpent:
        return errored(
            f"{otp.route} answered 429 within a fresh session's first attempts", attempts=otp.log
        )
    return passed(
        "a valid TOTP was accepted (200); the same code again and an invalid code "
        "were refused (401)",
        attempts=otp.log,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("auth.jwt_flow", "functional", "JWT login, expiry, refresh, scope", jwt_flow),
    CheckSpec(
        "auth.otp_flow",
        "functional",
        "TOTP accepted once, wrong code refused",
        otp_flow,
        timeout_s=75.0,
    ),
)
