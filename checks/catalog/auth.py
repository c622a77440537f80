"""Authentication checks: the JWT lifecycle and one-time codes (TOTP)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

import httpx

from checks.catalog._util import (
    ServiceFault,
    create,
    created_id,
    delete_quietly,
    exchange,
    expect_status,
    forge_jwt,
    json_body,
    jwt_claims,
    unique_tag,
    verdict,
)
from checks.catalog.api import protected_url
from checks.engine.login import FORM, MAX_LOGIN_WAIT_S
from checks.engine.outcome import MissingSetting, Verdict, errored, failed, passed, skipped
from checks.engine.registry import CheckSpec
from checks.engine.target import Target
from checks.engine.templates import find_path, render
from checks.engine.totp import RECOMMENDED_BITS, Totp

# Clock skew tolerated between us and the service when judging iat/exp.
SKEW_S = 5
# Statuses that mean "refused" for a spent refresh token (401 per the reference API; 400 is
# OAuth's invalid_grant and 403 is also a refusal).
REFUSED = (400, 401, 403)

# --- auth.jwt_flow ---


class _Judged:
    """What jwt_flow found: problems (the service breaks the rule), parts it could not judge
    (each naming the setting it lacks), parts that passed, and the evidence."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.unjudged: list[tuple[str, str]] = []  # (setting, what was not judged)
        self.passed: list[str] = []
        self.evidence: dict[str, Any] = {}

    def part(self, judge: Any, *args: Any) -> None:
        try:
            judge(*args)
        except ServiceFault as fault:
            self.problems.append(fault.summary)
            self.evidence.update(fault.evidence)
        except MissingSetting as missing:
            self.unjudged.append((missing.setting, missing.why))


def _judge_lifetime(t: Target, claims: dict[str, Any] | None, j: _Judged) -> None:
    """Fail unless the access token is a JWT whose exp lies within the allowed lifetime."""
    if claims is None:
        raise ServiceFault("the access token is not a JWT with a JSON payload")
    shown = {k: claims.get(k) for k in ("exp", "iat", "scope") if k in claims}
    j.evidence["claims"] = shown
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise ServiceFault("the access token carries no numeric exp claim", claims=shown)
    now = time.time()
    iat = claims.get("iat")
    issued = float(iat) if isinstance(iat, int | float) else now
    lifetime = exp - issued
    allowed = t.profile.auth.max_token_lifetime_s
    j.evidence["lifetime_s"] = int(lifetime)
    if lifetime > allowed + SKEW_S or exp - now > allowed + SKEW_S:
        raise ServiceFault(
            f"the access token lives {int(max(lifetime, exp - now))} s, more than the allowed "
            f"{allowed} s (auth.max_token_lifetime_s)",
            claims=shown,
        )
    if exp <= now - SKEW_S:
        raise ServiceFault("a freshly issued access token is already expired", claims=shown)
    j.passed.append(f"exp within {allowed} s")


def _refresh_request(t: Target, url: str, refresh_token: str) -> httpx.Response:
    if t.profile.auth.style == "oauth2_password":  # RFC 6749 §6, as the login is a form
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        return t.http.post(url, headers={"Content-Type": FORM}, content=urlencode(form).encode())
    body = render(t.profile.auth.refresh_body, {"refresh_token": refresh_token})
    return t.http.post(url, json=body)


def _judge_refresh(t: Target, j: _Judged) -> None:
    """The refresh token works once; the second use is refused."""
    auth = t.profile.auth
    if auth.style == "client_credentials":
        raise MissingSetting(
            "paths.refresh", "the client-credentials grant issues no refresh token"
        )
    url, route = t.route("refresh"), f"POST {t.profile.paths.refresh}"
    # A session of its own: reusing a refresh token on purpose may (rightly) revoke its whole
    # family, and the run's shared session must survive that.
    session = t.session(purpose="refresh rotation")
    if session.refresh_token is None:
        raise ServiceFault(
            f"the login answered no refresh token at auth.refresh_token_path = "
            f"{auth.refresh_token_path!r}, though paths.refresh is {t.profile.paths.refresh!r}"
        )

    def judge() -> dict[str, Any]:
        # Once per refresh token per run: a second judgement would see it spent already.
        first = _refresh_request(t, url, session.refresh_token or "")
        expect_status(first, 200, route)
        fresh = find_path(json_body(first), auth.token_path)
        t.add_secret(fresh if isinstance(fresh, str) else None)
        t.add_secret(find_path(json_body(first), auth.refresh_token_path or "-") or None)
        if not isinstance(fresh, str):
            raise ServiceFault(
                f"{route} answered 200 without a new token at auth.token_path",
                response=exchange(first),
            )
        again = _refresh_request(t, url, session.refresh_token or "")
        if again.status_code not in REFUSED:
            raise ServiceFault(
                f"{route} accepted a refresh token a second time (answered {again.status_code}, "
                "expected 401): refresh tokens must rotate",
                responses=[exchange(first), exchange(again)],
            )
        return {"refresh": exchange(first), "refresh_reuse": exchange(again)}

    j.evidence.update(t.shared(f"auth.jwt_flow.refresh:{id(session)}", judge))
    j.passed.append("refresh worked once and its reuse was refused")


def _judge_scope(t: Target, full_headers: dict[str, str], j: _Judged) -> None:
    """A token holding only the read scope must not be allowed to write."""
    scope = t.profile.auth.read_scope
    if not scope:
        raise MissingSetting("auth.read_scope", "the service has no scopes to enforce")
    read_only = t.access_token(scope)
    claims = jwt_claims(read_only) or {}
    tag = unique_tag("scope")
    response = create(t, t.header_for(read_only), tag)
    delete_quietly(t, full_headers, [created_id(t, response)])
    if response.status_code != 403:
        raise ServiceFault(
            f"POST {t.profile.paths.items} with a token scoped {scope!r} answered "
            f"{response.status_code}, expected 403",
            token_scope=claims.get("scope"),
            response=exchange(response),
        )
    j.evidence["missing_scope"] = exchange(response)
    j.passed.append("a token without the write scope got 403")


def _bad_tokens(access_token: str, claims: dict[str, Any]) -> dict[str, str]:
    """Tokens a service must refuse. A correctly signed expired token would need the signing
    key, so "expired" keeps the real signature over a payload whose exp is in the past."""
    past = int(time.time()) - 3600
    expired = {**claims, "iat": past - 60, "exp": past}
    tokens = {"garbage": "not.a.jwt"}
    if access_token.count(".") == 2:
        tokens["expired (re-stamped, original signature)"] = forge_jwt(access_token, expired)
        tokens["unsigned (alg none)"] = forge_jwt(access_token, claims, unsigned=True)
    return tokens


def _judge_bad_tokens(t: Target, access_token: str, claims: dict[str, Any], j: _Judged) -> None:
    url, path = protected_url(t)
    refused = t.profile.status.unauthenticated
    good = t.http.get(url, headers=t.header_for(access_token))
    # Without this, refusals below could come from a route that refuses everyone.
    expect_status(good, 200, f"GET {path} with a fresh access token")
    shown: dict[str, Any] = {}
    for label, token in _bad_tokens(access_token, claims).items():
        response = t.http.get(url, headers=t.header_for(token))
        shown[label] = exchange(response)
        if response.status_code not in refused:
            raise ServiceFault(
                f"GET {path} with a {label} token answered {response.status_code}, expected "
                + " or ".join(map(str, refused)),
                response=shown[label],
            )
    j.evidence["bad_tokens"] = shown
    j.passed.append(f"garbage, expired and unsigned tokens got {'/'.join(map(str, refused))}")


@verdict
def jwt_flow(t: Target) -> Verdict:
    if t.profile.auth.style == "static":
        raise MissingSetting(
            "auth.style", "a static token or API key: the service issues no tokens to judge"
        )
    protected_url(t)  # before logging in: a service without the route skips
    session = t.session()
    j = _Judged()
    if session.response is not None:
        j.evidence["login"] = exchange(session.response)
    claims = jwt_claims(session.access_token)
    j.part(_judge_lifetime, t, claims, j)
    j.part(_judge_refresh, t, j)
    j.part(_judge_scope, t, t.header_for(session.access_token), j)
    j.part(_judge_bad_tokens, t, session.access_token, claims or {}, j)
    if j.problems:
        return failed("; ".join(j.problems), **j.evidence)
    if j.unjudged:
        setting, why = j.unjudged[0]
        others = [f"{s} ({w})" for s, w in j.unjudged[1:]]
        return skipped(
            f"missing setting {setting}: {why}; judged: {', '.join(j.passed) or 'nothing'}"
            + (f"; also not judged: {', '.join(others)}" if others else ""),
            setting=setting,
            **j.evidence,
        )
    return passed("login gave access + refresh; " + "; ".join(j.passed), **j.evidence)


# --- auth.otp_flow ---


def totp_for(t: Target) -> Totp:
    auth = t.profile.auth
    if auth.style == "static":
        raise MissingSetting("paths.login", "the service has no login of its own (static token)")
    if auth.username is None and auth.style != "client_credentials":
        raise MissingSetting("auth.username", "needed to log in")
    if auth.otp_secret is None:
        raise MissingSetting("auth.otp_secret", "needed to compute one-time codes")
    return Totp(auth.otp_secret)


def fresh_session(t: Target) -> str:
    """A login of its own: OTP attempts are limited per session, so never spend the shared
    token's budget (nor let another check spend ours)."""
    return t.new_session().access_token


def invalid_code(totp: Totp, now: float) -> str:
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
        self.t, self.headers = t, t.header_for(token)
        self.url = t.route("otp_verify")
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


def _accept_valid(otp: _Otp, totp: Totp) -> tuple[str, httpx.Response]:
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


def _short_secret(totp: Totp) -> str | None:
    if totp.secret_bits >= RECOMMENDED_BITS:
        return None
    return (
        f"the TOTP secret is {totp.secret_bits} bits; RFC 4226 asks for at least "
        f"{RECOMMENDED_BITS} (160 recommended)"
    )


@verdict
def otp_flow(t: Target) -> Verdict:
    totp = totp_for(t)
    t.route("otp_verify")
    otp = _Otp(t, fresh_session(t))
    problems = [p for p in (_short_secret(totp),) if p]
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
    except ServiceFault as fault:
        raise ServiceFault("; ".join([*problems, fault.summary]), **fault.evidence) from None
    if problems:
        return failed(
            "; ".join(problems) + " (the flow itself worked: valid code accepted, reused and "
            "invalid codes refused)",
            attempts=otp.log,
        )
    return passed(
        "a valid TOTP was accepted (200); the same code again and an invalid code "
        "were refused (401)",
        attempts=otp.log,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "auth.jwt_flow",
        "functional",
        "JWT login, expiry, refresh, scope",
        jwt_flow,
        timeout_s=20.0 + 2 * MAX_LOGIN_WAIT_S,
    ),
    CheckSpec(
        "auth.otp_flow",
        "functional",
        "TOTP accepted once, wrong code refused",
        otp_flow,
        timeout_s=75.0 + MAX_LOGIN_WAIT_S,
    ),
)
