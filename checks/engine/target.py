"""Target: what a check gets — the profile, the shared guarded client, and cached logins.

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
from checks.engine.outcome import MissingSetting
from checks.engine.profile import Profile

# Re-login this long before the server says the token expires, so a token never dies mid-check.
_EXPIRY_MARGIN_S = 30.0
_T = TypeVar("_T")
log = logging.getLogger(__name__)


class LoginFailed(Exception):
    """The configured probe user could not log in; checks needing a token cannot decide."""

    def __init__(self, status_code: int, scope: str | None) -> None:
        self.status_code = status_code
        self.scope = scope
        where = f" for scope {scope!r}" if scope else ""
        super().__init__(f"login{where} answered {status_code}, expected 200")


class Target:
    """The service under test as one check sees it; one instance per run."""

    def __init__(
        self,
        profile: Profile,
        http: GuardedClient,
        *,
        clock: Callable[[], float] = time.time,
        policy: DestinationPolicy | None = None,
    ) -> None:
        self.profile = profile
        self.http = http
        # Non-HTTP outbound access (git hosts, databases) is judged by the same policy.
        self.policy: DestinationPolicy = policy if policy is not None else http.policy
        self._clock = clock
        self._tokens: dict[str | None, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._shared: dict[str, tuple[threading.Lock, list[Any]]] = {}
        self._shared_lock = threading.Lock()
        self._closers: list[Callable[[], None]] = []

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

    def url(self, path: str) -> str:
        """``base_url + path``; an absolute URL is returned unchanged. A route the profile
        sets to "" is not offered by the service: a check that needs it answers skip."""
        if not path:
            unoffered = [f"paths.{k}" for k, v in vars(self.profile.paths).items() if v == ""]
            raise MissingSetting(
                " or ".join(unoffered) or "paths",
                'the service does not offer this route (set to "" in the profile)',
            )
        if path.startswith(("http://", "https://")):
            return path
        return self.profile.service.base_url.rstrip("/") + "/" + path.lstrip("/")

    def login(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        scope: str | None = None,
    ) -> httpx.Response:
        """One raw, uncached login with the profile's credentials unless others are given."""
        auth = self.profile.auth
        user = username if username is not None else auth.username
        secret = password if password is not None else auth.password
        if user is None:
            raise MissingSetting("auth.username", "needed to log in")
        if secret is None:
            raise MissingSetting("auth.password", "needed to log in")
        body: dict[str, Any] = {"username": user, "password": secret}
        if scope is not None:
            body["scope"] = scope
        return self.http.post(self.url(self.profile.paths.login), json=body)

    def access_token(self, scope: str | None = None) -> str:
        """A bearer token for ``scope``, logging in at most once per scope while it is valid."""
        with self._lock:
            cached = self._tokens.get(scope)
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
            started = self._clock()
            response = self.login(scope=scope)
            if response.status_code != 200:
                raise LoginFailed(response.status_code, scope)
            try:
                payload = response.json()
                token = str(payload["access_token"])
            except (ValueError, KeyError, TypeError) as exc:
                raise LoginFailed(response.status_code, scope) from exc
            lifetime = payload.get("expires_in")
            if isinstance(lifetime, int | float) and not isinstance(lifetime, bool):
                expires = started + max(float(lifetime) - _EXPIRY_MARGIN_S, 0.0)
            else:
                expires = float("inf")
            self._tokens[scope] = (token, expires)
            return token

    def auth_headers(self, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token(scope)}"}


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
