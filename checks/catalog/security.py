"""Security checks: rate limits, CORS, TLS/HSTS, security headers, request body limits."""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from checks.catalog._util import (
    ServiceFault,
    create_body,
    exchange,
    retry_after_valid,
    verdict,
)
from checks.catalog.auth import fresh_session, invalid_code, totp_for
from checks.engine.login import MAX_LOGIN_WAIT_S
from checks.engine.outcome import MissingSetting, Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

# Attempts past the configured limit before concluding there is no limit: a little slack for
# services that count the first refused attempt differently.
EXTRA_ATTEMPTS = 3

# --- security.rate_limit ---


def _until_429(
    send: Callable[[], httpx.Response], limit: int, what: str, ok_statuses: set[int]
) -> dict[str, Any]:
    """Call ``send()`` up to limit + a few times; fail unless it ends in 429 + Retry-After."""
    statuses: list[int] = []
    for _ in range(limit + EXTRA_ATTEMPTS):
        response = send()
        statuses.append(response.status_code)
        if response.status_code == 429:
            if not retry_after_valid(response.headers.get("Retry-After")):
                raise ServiceFault(
                    f"{what} answered 429 after {len(statuses) - 1} attempts but without a "
                    "valid Retry-After header",
                    statuses=statuses,
                    response=exchange(response, "Retry-After"),
                )
            return {"statuses": statuses, "limited": exchange(response, "Retry-After")}
        if response.status_code not in ok_statuses:
            raise ServiceFault(
                f"{what} answered {response.status_code} on attempt {len(statuses)}, expected "
                + " or ".join(map(str, sorted(ok_statuses)))
                + " until the limit, then 429",
                statuses=statuses,
                response=exchange(response),
            )
    raise ServiceFault(
        f"{len(statuses)} {what} attempts (limit {limit}) never got 429",
        statuses=statuses,
    )


def _random_user(t: Target) -> str:
    """A random, non-existent user, so the probe user is never locked out by this check; an
    e-mail at the probe's own domain when the probe logs in with an e-mail."""
    name = f"preflight-ratelimit-{secrets.token_hex(6)}"
    probe = t.profile.auth.username or ""
    return f"{name}@{probe.rsplit('@', 1)[1]}" if "@" in probe else name


def _probe_logins(t: Target) -> dict[str, Any]:
    username, password = _random_user(t), secrets.token_urlsafe(12)
    return _until_429(
        lambda: t.login(username=username, password=password),
        t.profile.limits.login_attempts,
        f"POST {t.profile.paths.login} (wrong password)",
        set(t.profile.status.bad_credentials),
    )


class _OtpProbe:
    """The OTP half: its session is opened before the login burst (a service that limits
    logins per address would refuse it afterwards), its attempts sent after."""

    def __init__(self, t: Target) -> None:
        self.t = t
        self.totp = totp_for(t)
        self.url = t.route("otp_verify")
        # A session of its own, so the attempts spent here cost no other check anything.
        self.headers = t.header_for(fresh_session(t))

    def run(self) -> dict[str, Any]:
        return _until_429(
            lambda: self.t.http.post(
                self.url,
                headers=self.headers,
                json={"code": invalid_code(self.totp, time.time())},
            ),
            self.t.profile.limits.otp_attempts,
            f"POST {self.t.profile.paths.otp_verify} (wrong code)",
            {401},
        )


@verdict
def rate_limit(t: Target) -> Verdict:
    auth = t.profile.auth
    if not auth.logs_in_at_service:
        raise MissingSetting(
            "paths.login", f"the service has no login of its own (auth.style = {auth.style})"
        )
    t.route("login")
    try:
        otp_probe: _OtpProbe | None = _OtpProbe(t)
    except MissingSetting as missing:
        otp_probe, otp_missing = None, missing
    logins = _probe_logins(t)
    if otp_probe is None:
        # Logins were judged; say plainly that OTP was not, and why.
        return passed(
            f"logins got 429 with Retry-After after {len(logins['statuses']) - 1} attempts; "
            f"OTP attempts not probed: missing setting {otp_missing.setting}",
            logins=logins,
        )
    otp = otp_probe.run()
    return passed(
        f"logins got 429 with Retry-After after {len(logins['statuses']) - 1} attempts, "
        f"OTP verification after {len(otp['statuses']) - 1}",
        logins=logins,
        otp=otp,
    )


# --- security.cors ---


def _cors_requests(t: Target, origin: str) -> list[httpx.Response]:
    """A simple request and a preflight for a credentialed write, both from ``origin``."""
    preflight_headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    answers = [t.http.get(t.url(t.profile.paths.probe_path()), headers={"Origin": origin})]
    if t.profile.paths.items:
        answers.append(t.http.options(t.route("items"), headers=preflight_headers))
    return answers


def _acao(response: httpx.Response) -> str | None:
    return response.headers.get("Access-Control-Allow-Origin")


@verdict
def cors(t: Target) -> Verdict:
    foreign = t.profile.cors.foreign_origin
    shown = ("Access-Control-Allow-Origin", "Access-Control-Allow-Credentials")
    evidence: dict[str, Any] = {"foreign_origin": foreign}
    problems: list[str] = []
    answers = _cors_requests(t, foreign)
    evidence["responses"] = [exchange(r, *shown, body=False) for r in answers]
    for r in answers:
        if _acao(r) is not None:
            problems.append(
                f"{r.request.method} {r.request.url.path} from {foreign} got "
                f"Access-Control-Allow-Origin: {_acao(r)}"
            )
    allowed = t.profile.cors.allowed_origin
    if allowed:
        answers = _cors_requests(t, allowed)
        evidence["allowed_origin"] = allowed
        evidence["responses"] += [exchange(r, *shown, body=False) for r in answers]
        for r in answers:
            if _acao(r) == "*":
                problems.append(
                    f"{r.request.method} {r.request.url.path} answered "
                    "Access-Control-Allow-Origin: * (must name the origin)"
                )
            elif _acao(r) != allowed:
                problems.append(
                    f"{r.request.method} {r.request.url.path} from the allowed "
                    f"origin {allowed} got Access-Control-Allow-Origin: {_acao(r)}"
                )
    if problems:
        return failed("; ".join(problems), **evidence)
    return passed(
        f"{foreign} got no Access-Control-Allow-Origin"
        + (f"; {allowed} was allowed by name" if allowed else ""),
        **evidence,
    )


# --- security.tls ---

_MAX_AGE = re.compile(r"(?:^|;)\s*max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
REDIRECT_STATUSES = (301, 308)


def plain_http_url(t: Target) -> str:
    """Where plain HTTP must be refused by a redirect.

    ``tls.http_url`` when given. Otherwise, when HTTPS runs on the default port, the same
    host on port 80 is what a browser tries first, so that is judged. ``service.base_url`` is
    deliberately never used: it is often the app's own plain port behind the TLS terminator,
    which has no reason to redirect, and judging it would fail sound deployments.
    """
    if t.profile.tls.http_url:
        return t.profile.tls.http_url
    https = urlsplit(t.profile.tls.https_url or "")
    if https.port not in (None, 443) or not https.hostname:
        raise MissingSetting(
            "tls.http_url",
            "tls.https_url is on a non-standard port, so its plain-HTTP twin cannot be derived",
        )
    return f"http://{https.netloc.rsplit('@', 1)[-1]}"


def _hsts_problem(response: httpx.Response, minimum: int) -> str | None:
    value = response.headers.get("Strict-Transport-Security")
    if value is None:
        return "no Strict-Transport-Security header"
    match = _MAX_AGE.search(value)
    if match is None:
        return f"Strict-Transport-Security {value!r} has no max-age"
    if int(match.group(1)) < minimum:
        return f"HSTS max-age={match.group(1)} is below {minimum} s"
    return None


def _redirect_problem(response: httpx.Response) -> str | None:
    location = response.headers.get("Location", "")
    what = f"plain-HTTP GET {response.request.url}"
    if response.status_code not in REDIRECT_STATUSES:
        return f"{what} answered {response.status_code}, expected 301 or 308 to https://"
    if urlsplit(location).scheme != "https":
        return f"{what} redirected to {location!r}, not to an https:// URL"
    return None


def _url_with(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path.lstrip("/")


@verdict
def tls(t: Target) -> Verdict:
    settings = t.profile.tls
    if not settings.https_url:
        raise MissingSetting("tls.https_url", "needed to check HTTPS and HSTS")
    verify = str(settings.ca_file) if settings.ca_file else None
    probe = t.profile.paths.probe_path()
    secure = t.http.get(_url_with(settings.https_url, probe), verify=verify)
    plain = t.http.get(_url_with(plain_http_url(t), probe))
    problems = [
        p for p in (_hsts_problem(secure, settings.min_hsts_max_age), _redirect_problem(plain)) if p
    ]
    evidence = {
        "https": exchange(secure, "Strict-Transport-Security", body=False),
        "http": exchange(plain, "Location", body=False),
        "min_hsts_max_age": settings.min_hsts_max_age,
    }
    if problems:
        return failed("; ".join(problems), **evidence)
    return passed(
        "plain HTTP redirects to HTTPS; HTTPS responses carry HSTS with max-age ≥ "
        f"{settings.min_hsts_max_age} s",
        **evidence,
    )


# --- security.headers ---

SECURITY_HEADERS = (
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
)


def _header_problems(response: httpx.Response) -> list[str]:
    h = response.headers
    csp = h.get("Content-Security-Policy")
    problems = []
    if not csp:
        problems.append("Content-Security-Policy")
    if not h.get("X-Frame-Options") and "frame-ancestors" not in (csp or "").lower():
        problems.append("X-Frame-Options (or CSP frame-ancestors)")
    if (h.get("X-Content-Type-Options") or "").strip().lower() != "nosniff":
        problems.append("X-Content-Type-Options: nosniff")
    if not h.get("Referrer-Policy"):
        problems.append("Referrer-Policy")
    return problems


@verdict
def headers(t: Target) -> Verdict:
    # A success and an error: headers set only by happy-path views would miss the latter.
    unknown = f"/preflight-no-such-route-{secrets.token_hex(4)}"
    answers = [t.http.get(t.url(t.profile.paths.probe_path())), t.http.get(t.url(unknown))]
    evidence = {"responses": [exchange(r, *SECURITY_HEADERS, body=False) for r in answers]}
    missing = [
        f"{r.request.url.path} ({r.status_code}) lacks {', '.join(p)}"
        for r in answers
        if (p := _header_problems(r))
    ]
    if missing:
        return failed("; ".join(missing), **evidence)
    return passed(
        "CSP, frame protection, nosniff and Referrer-Policy present on "
        + " and ".join(f"{r.request.url.path} ({r.status_code})" for r in answers),
        **evidence,
    )


# --- security.request_limits ---


# A server may answer 413 and close without reading the rest of the upload; the kernel then
# resets the connection and the 413 can be lost in flight (seen on loaded hosts). A few tries
# before the transport error is let through as ``error`` — never as a verdict.
UPLOAD_TRIES = 3
_RESET_ERRORS = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError)


def _upload_route(t: Target) -> tuple[str, str]:
    """Where to send the oversized body: the collection, else the login."""
    for name in ("items", "login"):
        if getattr(t.profile.paths, name):
            return t.route(name), getattr(t.profile.paths, name)
    raise MissingSetting("paths.items", "a route that takes a request body")


def _post_oversized(t: Target, url: str, body: bytes) -> httpx.Response:
    for attempt in range(1, UPLOAD_TRIES + 1):
        try:
            return t.http.post(
                url,
                content=body,
                headers={"Content-Type": "application/json"},
            )
        except _RESET_ERRORS:
            if attempt == UPLOAD_TRIES:
                raise
    raise AssertionError("unreachable")


@verdict
def request_limits(t: Target) -> Verdict:
    limit = t.profile.limits.body_bytes
    # Valid JSON just over the limit, sent without a token: a limit enforced before auth and
    # parsing answers 413; no item can be created, whatever the service does.
    url, path = _upload_route(t)
    filler = "x" * (limit + 1024)
    body = json.dumps(create_body(t, filler)).encode()
    response = _post_oversized(t, url, body)
    evidence = {"body_bytes_sent": len(body), "limit": limit, "response": exchange(response)}
    if response.status_code != 413:
        return failed(
            f"a {len(body)}-byte body (limit {limit}) to POST {path} answered "
            f"{response.status_code}, expected 413",
            **evidence,
        )
    return passed(f"a {len(body)}-byte body got 413", **evidence)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "security.rate_limit",
        "functional",
        "Logins and OTP attempts are rate limited (429 + Retry-After)",
        rate_limit,
        # Not isolated: its bursts use a throwaway username and an OTP session of its own,
        # so they spend only budgets no other check uses (a service that counts logins per
        # username, or per username and address, as the reference does). On a service that
        # counts per address alone, another check's login may meet a 429: the probe's login
        # waits out a Retry-After of up to a minute (checks/engine/target.py), so verdicts
        # stay right and the run is slower.
        timeout_s=60.0 + MAX_LOGIN_WAIT_S,
    ),
    CheckSpec("security.cors", "http", "CORS refuses foreign origins", cors),
    CheckSpec("security.tls", "http", "HTTP redirects to HTTPS; HSTS ≥ 180 days", tls),
    CheckSpec("security.headers", "http", "Security headers are present", headers),
    CheckSpec("security.request_limits", "http", "Oversized bodies get 413", request_limits),
)
