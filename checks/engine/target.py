"""Target: what a check gets — the profile, the shared guarded client, and cached sessions.

Logging in once per (run, scope) matters beyond speed: the service rate-limits logins, and a
run of twenty checks each logging in would trip the very limit another check measures.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from checks.engine.http import DestinationPolicy, GuardedClient, shared_client
from checks.engine.login import (
    MAX_LOGIN_WAIT_S,
    LoginFailed,
    LoginRateLimited,
    LoginRequest,
    Session,
    login_request,
    read_session,
    retry_after_s,
)
from checks.engine.outcome import MissingSetting
from checks.engine.profile import Profile
from checks.engine.scrub import Scrubber
from checks.engine.totp import Totp

_T = TypeVar("_T")
log = logging.getLogger(__name__)
# A little past the server's Retry-After, so the retry does not land on the boundary.
_RETRY_SLACK_S = 0.5


class Target:
    """The service under test as one check sees it; one instance per run."""

    def __init__(
        self,
        profile: Profile,
        http: GuardedClient,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        policy: DestinationPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.http = http
        # Non-HTTP outbound access (git hosts, databases) is judged by the same policy.
        self.policy: DestinationPolicy = policy if policy is not None else http.policy
        self._clock = clock
        self._sleep = sleep
        self._sessions: dict[tuple[str | None, str | None], Session] = {}
        self.logins = 0  # logins this run made for the probe (not the rate-limit probes)
        self._lock = threading.Lock()
        self._shared: dict[str, tuple[threading.Lock, list[Any]]] = {}
        self._shared_lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []
        # The run's one scrubbing boundary (checks/engine/scrub.py): the profile's secrets
        # now, secrets learned during the run (tokens) as add_secret() reports them.
        self.scrubber = Scrubber(profile.secret_values())

    def add_secret(self, value: str | None) -> None:
        """A secret learned during the run (an access or refresh token, a session cookie):
        from now on it is scrubbed from outcomes, drill timelines and log lines."""
        if value:
            self.scrubber.add(value)

    def shared(self, key: str, factory: Callable[[], _T]) -> _T:
        """``factory()`` computed once per run for ``key`` and shared between checks.

        Thread-safe; only callers of the same key wait for each other. A factory that raises
        caches nothing, so the next caller tries again.
        """
        with self._shared_lock:
            lock, slot = self._shared.setdefault(key, (threading.Lock(), []))
        with lock:
            if not slot:
                slot.append(factory())
            value: _T = slot[0]
            return value

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the run ends (``close()``), e.g. to remove a clone."""
        with self._shared_lock:
            self._closers.append(callback)

    def close(self) -> None:
        """Release what checks set up for this run, newest first. Idempotent."""
        with self._shared_lock:
            closers, self._closers = self._closers[::-1], []
        for callback in closers:
            try:
                callback()
            except Exception:  # one failed cleanup must not skip the others
                log.exception("cleanup after the run failed")

    def secret_values(self) -> list[str]:
        """The profile's secrets and every secret learned during the run."""
        return sorted(self.scrubber.secrets, key=lambda v: (-len(v), v))

    def url(self, path: str) -> str:
        """``base_url + path``; an absolute URL is returned unchanged. Paths are used as
        written (a trailing slash stays: FastAPI answers 307 to the other spelling)."""
        if not path:
            raise MissingSetting("paths", 'the service does not offer this route (set to "")')
        if path.startswith(("http://", "https://")):
            return path
        return self.profile.service.base_url.rstrip("/") + "/" + path.lstrip("/")

    def route(self, name: str) -> str:
        """The URL of ``paths.<name>``; a route set to "" is not offered by the service, and a
        check that needs it answers skip naming exactly that setting."""
        path = getattr(self.profile.paths, name)
        if not path:
            raise MissingSetting(
                f"paths.{name}", 'the service does not offer this route (set to "" in the profile)'
            )
        return self.url(path)

    # --- logging in ----------------------------------------------------------------------

    def login_request(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        scope: str | None = None,
    ) -> LoginRequest:
        return login_request(
            self.profile,
            self.route,
            self.url,
            username=username,
            password=password,
            scope=scope,
        )

    def login(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        scope: str | None = None,
    ) -> httpx.Response:
        """One raw, uncached login in the profile's style, with the probe's credentials unless
        others are given (the rate-limit probe sends wrong ones)."""
        request = self.login_request(username=username, password=password, scope=scope)
        response = self.http.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            json=request.json,
        )
        if response.status_code == 200:  # every token a login answers is a secret of the run
            try:
                learned = read_session(self.profile, response, self._clock())
            except LoginFailed:
                pass
            else:
                self.add_secret(learned.access_token)
                self.add_secret(learned.refresh_token)
        return response

    def session(self, scope: str | None = None, *, purpose: str | None = None) -> Session:
        """The probe's session for ``scope``: one login per scope per run, shared by every
        check and reused while valid. A ``purpose`` names a session of its own, for a check
        that deliberately spends what a session holds (reusing its refresh token)."""
        with self._lock:
            cached = self._sessions.get((scope, purpose))
            if cached is not None and self._clock() < cached.expires_at:
                return cached
            session = self.new_session(scope)
            self._sessions[(scope, purpose)] = session
            return session

    def new_session(self, scope: str | None = None) -> Session:
        """One fresh login, not cached (OTP attempts are budgeted per session: the OTP checks
        each spend a session of their own)."""
        auth = self.profile.auth
        if auth.style == "static":
            if not auth.token:
                raise MissingSetting("auth.token", "the static token or API key to send")
            return Session(access_token=auth.token)
        what = self.login_request(scope=scope).what
        started = self._clock()
        response = self._login_waiting(scope, what)
        if response.status_code != 200:
            raise LoginFailed(
                f"the probe's login failed: {what} answered {response.status_code}, expected 200"
                + (f" (scope {scope!r})" if scope else ""),
                status_code=response.status_code,
                response=_brief(response),
            )
        session = read_session(self.profile, response, started)
        self.logins += 1
        self.add_secret(session.access_token)
        self.add_secret(session.refresh_token)
        if auth.otp_on_login:
            session = self._otp_step(session)
        return session

    def _login_waiting(self, scope: str | None, what: str) -> httpx.Response:
        """Log in; a 429 with a Retry-After of at most a minute is waited out once."""
        response = self.login(scope=scope)
        if response.status_code != 429:
            return response
        header = response.headers.get("Retry-After")
        wait = retry_after_s(header)
        if wait is None or wait > MAX_LOGIN_WAIT_S:
            raise LoginRateLimited(what, header, response=_brief(response))
        log.info("the probe's login got 429; waiting %.1f s as Retry-After asks", wait)
        self._sleep(wait + _RETRY_SLACK_S)
        response = self.login(scope=scope)
        if response.status_code == 429:
            raise LoginRateLimited(
                what, response.headers.get("Retry-After"), response=_brief(response), waited_s=wait
            )
        return response

    def _otp_step(self, session: Session) -> Session:
        """Second factor right after the password: POST a current TOTP to paths.otp_verify;
        a token in the answer (at auth.token_path) replaces the first one."""
        secret = self.profile.auth.otp_secret
        if secret is None:
            raise MissingSetting("auth.otp_secret", "auth.otp_on_login needs it")
        url = self.route("otp_verify")
        code = Totp(secret).now()
        response = self.http.post(
            url, headers=self.header_for(session.access_token), json={"code": code}
        )
        if response.status_code != 200:
            raise LoginFailed(
                f"the probe's OTP step failed: POST {self.profile.paths.otp_verify} answered "
                f"{response.status_code}, expected 200",
                status_code=response.status_code,
                response=_brief(response),
            )
        try:
            upgraded = read_session(self.profile, response, self._clock())
        except LoginFailed:
            return session  # the service marks the session verified; the token stays
        self.add_secret(upgraded.access_token)
        self.add_secret(upgraded.refresh_token)
        return upgraded

    def access_token(self, scope: str | None = None) -> str:
        """The probe's token for ``scope``, logging in at most once per scope while valid."""
        return self.session(scope).access_token

    def header_for(self, token: str) -> dict[str, str]:
        """The header that carries ``token`` (``auth.header``, after ``auth.scheme``)."""
        auth = self.profile.auth
        return {auth.header: f"{auth.scheme} {token}" if auth.scheme else token}

    def auth_headers(self, scope: str | None = None) -> dict[str, str]:
        return self.header_for(self.access_token(scope))


def _brief(response: httpx.Response) -> dict[str, Any]:
    """A login answer for evidence: the route, status and the start of the body (no secrets
    are sent back by a failed login; the runner's scrubbing catches any that are)."""
    request = response.request
    return {
        "request": f"{request.method} {request.url.path}",
        "status": response.status_code,
        "body": response.text[:300],
    }


def build_target(profile: Profile, policy: DestinationPolicy) -> Target:
    """A Target whose client follows the profile's ``[http]`` and ``tls.ca_file`` settings."""
    verify: str | bool = str(profile.tls.ca_file) if profile.tls.ca_file else True
    client = shared_client(
        policy,
        timeout=profile.http.timeout_s,
        max_body_bytes=profile.http.max_body_bytes,
        verify=verify,
    )
    return Target(profile, client, policy=policy)


__all__ = ["LoginFailed", "LoginRateLimited", "Session", "Target", "build_target"]
