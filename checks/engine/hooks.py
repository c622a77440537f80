"""Drill hooks and the drill harness: break something, watch, always restore.

A drill check is written as ``@drill(key, restore=("redis_up",))`` over ``body(t, d)``. The
harness guarantees what every drill needs and no check may forget:

- restore hooks run in ``finally`` — after a pass, a fail, an exception or a cancel;
- one drill at a time per service (``DrillContext.begin`` may refuse: the portal's lock);
- cancellation is polled between steps (``d.sleep``/``d.check``) and ends the drill early;
- every hook and observation lands in a timeline ``[{"t": s, "event": "..."}]``, evidence key
  ``events`` (check-catalog.md; a load test's per-second curve is ``samples``);
- hooks and the service URL never point at the portal's own broker or database.

The engine knows nothing of Django: the portal gives a Target its ``DrillContext`` (lock,
heartbeat, cancel flag, alert source); the CLI gets the default, which locks nothing and has
no alert source.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from checks.engine.drill_settings import HookAction
from checks.engine.http import DestinationRefused, parse_ip, system_resolver
from checks.engine.outcome import Verdict, errored, failed
from checks.engine.target import Target

RESTORE_ATTEMPTS = 3
EVENTS_KEY = "events"  # check-catalog.md: every drill's timeline of actions and observations


class DrillCancelled(Exception):
    """Someone cancelled the drill from the portal."""


class DrillBusy(Exception):
    """Another drill holds this service's lock."""


class HookFailed(Exception):
    """A hook did not answer 2xx: the drill cannot know what state the service is in."""


class DrillFault(Exception):
    """The service failed the drill; becomes a ``fail`` carrying the timeline."""

    def __init__(self, summary: str, **evidence: Any) -> None:
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence


@dataclass(frozen=True)
class AlertSeen:
    """One alert notification as the portal's webhook received it."""

    status: str  # "firing" | "resolved"
    received_at: float  # epoch seconds
    labels: Mapping[str, str]


# (matchers, since epoch seconds) -> notifications received since then that match
AlertSource = Callable[[Mapping[str, str], float], list[AlertSeen]]


def _never_cancelled(key: str) -> bool:
    return False


def _nothing(*args: Any) -> None:
    return None


@dataclass
class DrillContext:
    """What the caller lends drills. Defaults suit the CLI: no lock, no alerts, no cancel."""

    alert_source: AlertSource | None = None
    alert_source_missing: str = (
        "alerts arrive at the portal's /hooks/alertmanager webhook; the CLI has none"
    )
    # The setting that would give drills an alert source, when one would ("" on the CLI).
    alert_source_setting: str = ""
    # (host, port) pairs drills must never touch: the portal's own broker and database.
    forbidden: Sequence[tuple[str, int]] = ()
    begin: Callable[[str, list[str]], None] = _nothing  # key, restore hooks; may DrillBusy
    progress: Callable[[str, list[dict[str, Any]]], None] = _nothing  # heartbeat + timeline
    end: Callable[[str, Verdict], None] = _nothing
    cancelled: Callable[[str], bool] = _never_cancelled


_contexts: weakref.WeakKeyDictionary[Target, DrillContext] = weakref.WeakKeyDictionary()
_contexts_lock = threading.Lock()


def drill_context(t: Target) -> DrillContext:
    """The target's drill context, created with CLI defaults on first use."""
    with _contexts_lock:
        context = _contexts.get(t)
        if context is None:
            context = _contexts[t] = DrillContext()
        return context


def set_drill_context(t: Target, context: DrillContext) -> None:
    with _contexts_lock:
        _contexts[t] = context


def refuse_forbidden(url: str, forbidden: Sequence[tuple[str, int]]) -> None:
    """Raise DestinationRefused when ``url`` reaches a forbidden (host, port)."""
    if not forbidden:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    wanted = _addresses(host, port)
    for bad_host, bad_port in forbidden:
        if port == bad_port and wanted & _addresses(bad_host, bad_port):
            raise DestinationRefused(
                host, None, "this is the portal's own broker or database; drills never touch it"
            )


def _addresses(host: str, port: int) -> set[str]:
    literal = parse_ip(host)
    if literal is not None:
        return {str(literal)}
    try:
        return {str(a) for a in system_resolver(host, port)} | {host.lower()}
    except OSError:
        return {host.lower()}


def hook_url(t: Target, action: HookAction) -> str:
    return t.url(action.url)


def call_hook(t: Target, name: str, *, forbidden: Sequence[tuple[str, int]] = ()) -> int:
    """Send the named hook through the guarded client; the status code, or HookFailed."""
    action = t.profile.hooks.action(name)
    url = hook_url(t, action)
    refuse_forbidden(url, forbidden)
    response = t.http.request(
        action.method,
        url,
        headers=dict(action.headers),
        json=action.json,
        timeout=t.profile.hooks.timeout_s,
    )
    if not response.is_success:
        raise HookFailed(
            f"hook {name} ({action.method} {action.url}) answered {response.status_code}"
        )
    return response.status_code


@dataclass
class Drill:
    """One drill in progress: its clock, timeline, armed restore hooks and cancel checks."""

    t: Target
    key: str
    restore: tuple[str, ...]
    context: DrillContext
    started: float = field(default_factory=time.monotonic)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    armed: list[str] = field(default_factory=list)
    _last_progress: float = 0.0

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)

    def event(self, text: str, **data: Any) -> None:
        self.timeline.append({"t": self.elapsed(), "event": text, **data})
        self._progress(force=True)

    def _progress(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= 1.0:
            self._last_progress = now
            # The portal stores this live: the run's scrubbing boundary applies here too.
            self.context.progress(self.key, self.t.scrubber.data(list(self.timeline)))

    def check(self) -> None:
        """Heartbeat, and stop here if the drill was cancelled."""
        self._progress()
        if self.context.cancelled(self.key):
            self.event("cancel requested")
            raise DrillCancelled(self.key)

    def sleep(self, seconds: float) -> None:
        """Sleep in short slices so a cancel is noticed within a quarter second."""
        until = time.monotonic() + seconds
        while True:
            self.check()
            left = until - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.25))

    def hook(self, name: str) -> None:
        """Run a hook. A breaking hook arms its restore before it is sent: if the request
        times out, the service may have broken anyway."""
        self.check()
        if name in self.restore:
            self.armed = [n for n in self.armed if n != name]
        else:
            self.armed.extend(n for n in self.restore if n not in self.armed)
        status = call_hook(self.t, name, forbidden=self.context.forbidden)
        self.event(f"hook {name}", status=status)

    def restore_armed(self) -> list[str]:
        """Run every armed restore hook (a few attempts each); the ones that failed."""
        problems: list[str] = []
        for name in list(self.armed):
            for attempt in range(1, RESTORE_ATTEMPTS + 1):
                try:
                    status = call_hook(self.t, name, forbidden=self.context.forbidden)
                except (HookFailed, httpx.HTTPError, DestinationRefused) as exc:
                    self.event(f"restore {name} failed (attempt {attempt})", error=str(exc))
                    time.sleep(0.2 * attempt)
                    continue
                self.event(f"restore {name}", status=status)
                self.armed.remove(name)
                break
            else:
                problems.append(name)
        return problems


DrillBody = Callable[[Target, Drill], Verdict]


def drill(
    key: str,
    *,
    hooks: Sequence[str] = (),
    restore: Sequence[str] = (),
    requires: Callable[[Target], Verdict | None] | None = None,
) -> Callable[[DrillBody], Callable[[Target], Verdict]]:
    """Turn ``body(t, d)`` into a check with the drill guarantees (module docstring).

    Before anything is locked or broken: every hook in ``hooks`` and ``restore`` must be in
    the profile (else MissingSetting: skip), and ``requires(t)`` may raise MissingSetting or
    return a verdict (a skip) that ends the check there. The event timeline goes to
    ``evidence["events"]``, for every drill."""

    def wrap(body: DrillBody) -> Callable[[Target], Verdict]:
        @functools.wraps(body)
        def run(t: Target) -> Verdict:
            context = drill_context(t)
            for name in (*hooks, *restore):
                refuse_forbidden(hook_url(t, t.profile.hooks.action(name)), context.forbidden)
            early = requires(t) if requires is not None else None
            if early is not None:
                return early
            d = Drill(t, key, tuple(restore), context)
            refuse_forbidden(t.url("/"), context.forbidden)
            try:
                context.begin(key, list(restore))
            except DrillBusy as exc:
                return errored(str(exc))
            d.event("drill started")
            verdict: Verdict | None = None
            try:
                verdict = body(t, d)
            except DrillFault as fault:
                verdict = failed(fault.summary, **fault.evidence)
            except DrillCancelled:
                verdict = errored("cancelled; restore hooks ran")
            except (HookFailed, DestinationRefused, httpx.HTTPError) as exc:
                verdict = errored(f"{type(exc).__name__}: {exc}")
            finally:
                left_broken = d.restore_armed()
                if verdict is None:  # an unexpected exception is on its way to the runner
                    d.event("drill aborted by an unexpected error")
                    context.end(key, t.scrubber.verdict(errored("aborted", events=d.timeline)))
            assert verdict is not None
            if left_broken:
                verdict = errored(
                    f"restore hook(s) {', '.join(left_broken)} failed: the service may still "
                    f"be degraded. Drill result before that: {verdict.summary}",
                    **verdict.evidence,
                )
            assert verdict is not None
            d.event("drill finished", status=str(verdict.status))
            evidence = {**verdict.evidence, EVENTS_KEY: d.timeline}
            final = t.scrubber.verdict(Verdict(verdict.status, verdict.summary, evidence))
            context.end(key, final)
            return final

        return run

    return wrap
