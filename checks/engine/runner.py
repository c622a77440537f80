"""Run check specs against a target: bounded concurrency, per-check timeouts, isolation.

Each check runs in its own daemon thread, at most ``concurrency`` counted at once. Python
cannot kill a thread, so a check that overruns its timeout is recorded as ``error`` and
abandoned: it no longer counts against the bound and, being a daemon, cannot hold the process
open at exit. (A ThreadPoolExecutor would do neither: a stuck worker keeps its slot and the
interpreter joins it at exit.) Isolated checks (those with ``isolated_because``: the drills,
which disturb what every other check observes) run afterwards, one by one, and their evidence
says why (``isolated_because``).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import httpx

from checks.engine.http import DestinationRefused, ResponseTooLarge
from checks.engine.outcome import MissingSetting, Outcome, Status, Verdict
from checks.engine.registry import CheckSpec
from checks.engine.target import LoginFailed, Target

DEFAULT_CONCURRENCY = 4


def _json_safe(evidence: Any) -> dict[str, Any]:
    """Evidence as JSON-safe data; a stray non-JSON value is stringified, not fatal."""
    data = json.loads(json.dumps(evidence, default=repr))
    return data if isinstance(data, dict) else {"value": data}


def outcome_for_exception(key: str, exc: BaseException, duration_ms: int) -> Outcome:
    """Map an exception raised by a check to its outcome, per the engine contract."""
    evidence: dict[str, Any] = {"exception": type(exc).__name__}
    if isinstance(exc, MissingSetting):
        summary = f"missing setting {exc.setting}" + (f": {exc.why}" if exc.why else "")
        return Outcome(key, Status.SKIP, summary, {"setting": exc.setting}, duration_ms)
    if isinstance(exc, DestinationRefused):
        evidence.update(host=exc.host, address=exc.address, reason=exc.reason)
        summary = str(exc)
    elif isinstance(exc, httpx.TimeoutException):
        summary = f"network timeout: {exc}"
    elif isinstance(exc, httpx.TransportError):
        summary = f"network error: {exc}"
    elif isinstance(exc, ResponseTooLarge):
        summary = str(exc)
    elif isinstance(exc, LoginFailed):  # the probe's own login: never a verdict on the service
        summary = exc.summary
        evidence.update(exc.evidence)
    else:
        summary = f"{type(exc).__name__}: {exc}"
    return Outcome(key, Status.ERROR, summary, evidence, duration_ms)


def run_one(target: Target, spec: CheckSpec) -> Outcome:
    """Run one check in the calling thread and turn whatever happens into an Outcome,
    scrubbed of the run's secrets (checks/engine/scrub.py): nothing a check returns or
    raises reaches a caller unscrubbed."""
    return target.scrubber.outcome(_run_one(target, spec))


def _run_one(target: Target, spec: CheckSpec) -> Outcome:
    started = time.monotonic()
    try:
        verdict = spec.run(target)
    except Exception as exc:
        return outcome_for_exception(spec.key, exc, _ms_since(started))
    duration = _ms_since(started)
    if not isinstance(verdict, Verdict):
        summary = f"check returned {type(verdict).__name__}, not a Verdict"
        return Outcome(spec.key, Status.ERROR, summary, {}, duration)
    return Outcome(
        spec.key, Status(verdict.status), verdict.summary, _json_safe(verdict.evidence), duration
    )


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _timed_out(spec: CheckSpec) -> Outcome:
    summary = f"timed out after {spec.timeout_s:g}s"
    return Outcome(spec.key, Status.ERROR, summary, {}, int(spec.timeout_s * 1000))


def _run_batch(
    target: Target,
    specs: Sequence[tuple[int, CheckSpec]],
    concurrency: int,
    record: Callable[[int, Outcome], None],
    on_start: Callable[[CheckSpec], None] | None = None,
) -> None:
    """Run ``specs`` with at most ``concurrency`` live at once, each within its timeout."""
    finished: queue.Queue[tuple[int, Outcome]] = queue.Queue()
    pending = list(specs)
    running: dict[int, tuple[CheckSpec, float]] = {}  # index -> (spec, deadline)

    def work(index: int, spec: CheckSpec) -> None:
        started = time.monotonic()
        try:
            outcome = run_one(target, spec)
        except BaseException as exc:  # SystemExit & co. must still end the wait promptly
            outcome = outcome_for_exception(spec.key, exc, _ms_since(started))
        finished.put((index, outcome))

    while pending or running:
        while pending and len(running) < concurrency:
            index, spec = pending.pop(0)
            running[index] = (spec, time.monotonic() + spec.timeout_s)
            if on_start is not None:
                on_start(spec)
            threading.Thread(
                target=work, args=(index, spec), name=f"check:{spec.key}", daemon=True
            ).start()
        next_deadline = min(deadline for _spec, deadline in running.values())
        try:
            index, outcome = finished.get(timeout=max(next_deadline - time.monotonic(), 0.0))
        except queue.Empty:
            pass
        else:
            if index in running:  # late results of abandoned checks are dropped
                del running[index]
                record(index, outcome)
        now = time.monotonic()
        for index, (spec, deadline) in list(running.items()):
            if deadline <= now:
                del running[index]
                record(index, _timed_out(spec))


def run_checks(
    target: Target,
    specs: Sequence[CheckSpec],
    *,
    concurrency: int | None = None,
    on_result: Callable[[Outcome], None] | None = None,
    on_start: Callable[[CheckSpec], None] | None = None,
) -> list[Outcome]:
    """Run ``specs`` and return their outcomes in the order of ``specs``.

    ``concurrency`` defaults to the profile's ``http.concurrency``. ``on_result`` is called
    from the calling thread as each check finishes, so a caller may persist results live
    without locking. Every outcome is scrubbed of the run's secrets before it is returned or
    handed to ``on_result`` (the one scrubbing boundary: checks/engine/scrub.py).
    ``on_start`` is called from the calling thread as each check is started (progress).
    """
    limit = max(1, concurrency or target.profile.http.concurrency or DEFAULT_CONCURRENCY)
    results: dict[int, Outcome] = {}

    def record(index: int, outcome: Outcome) -> None:
        # Scrubbed again here: secrets learned since (a later login's token) and outcomes
        # made outside run_one (timeouts, BaseException) pass the same boundary.
        outcome = target.scrubber.outcome(outcome)
        if specs[index].isolated:
            reason = specs[index].isolated_because
            outcome = replace(outcome, evidence={**outcome.evidence, "isolated_because": reason})
        results[index] = outcome
        if on_result is not None:
            on_result(outcome)

    indexed = list(enumerate(specs))
    _run_batch(target, [(i, s) for i, s in indexed if not s.isolated], limit, record, on_start)
    for item in indexed:
        if item[1].isolated:
            _run_batch(target, [item], 1, record, on_start)
    return [results[i] for i in range(len(specs))]
