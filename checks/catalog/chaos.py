"""Runbook step 4, chaos: a Redis outage must degrade, not break; a DB outage must take the
service out of readiness quickly; both must heal after restore.

Both drills break staging through the profile's hooks and restore it in ``finally`` (and the
portal's sweeper restores it if the worker dies mid-drill): see checks/engine/hooks.py.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

import httpx

from checks.catalog._util import create, created_id, delete_quietly, item_url, unique_tag
from checks.engine.hooks import Drill, DrillFault, drill
from checks.engine.outcome import Verdict, errored, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

POLL_S = 0.2  # the runbook asks for at most 250 ms between readiness probes
PROBE_TIMEOUT_S = 2.0
FLIP_LIMIT_S = 5.0
FLIP_WATCH_S = 7.5  # watch past the limit so a slow flip is measured, not just failed
RECOVERY_DEADLINE_S = 30.0
OUTAGE_READS = 30
# "Degraded but no 5xx storm": a stray 5xx while connections fail over is tolerated.
MAX_FAILED_SHARE = 0.05


def _status(t: Target, url: str, headers: dict[str, str] | None = None) -> int | None:
    """The status code, or None when the service did not answer in time."""
    try:
        return t.http.get(url, headers=headers, timeout=PROBE_TIMEOUT_S).status_code
    except (httpx.TimeoutException, httpx.TransportError):
        return None


def _ok(status: int | None) -> bool:
    return status is not None and 200 <= status < 300


def poll_until(d: Drill, probe: Callable[[], bool], limit_s: float) -> tuple[float | None, int]:
    """Seconds until ``probe()`` first held (None: not within ``limit_s``), and probe count."""
    started = time.monotonic()
    probes = 0
    while True:
        probes += 1
        if probe():
            return round(time.monotonic() - started, 3), probes
        if time.monotonic() - started >= limit_s:
            return None, probes
        d.sleep(POLL_S)


# --- chaos.redis_outage ---


@drill("chaos.redis_outage", hooks=("redis_down",), restore=("redis_up",))
def redis_outage(t: Target, d: Drill) -> Verdict:
    headers = t.auth_headers()
    tag = unique_tag("chaos")
    created = create(t, headers, tag)
    item_id = created_id(t, created)
    if item_id is None:
        return errored(f"could not create an item to read (answered {created.status_code})")
    try:
        url = item_url(t, item_id)
        if not _ok(_status(t, url, headers)):
            return errored("reads failed before the drill: cannot judge the outage")
        d.hook("redis_down")
        statuses: list[int | None] = []
        latencies: list[float] = []
        for _ in range(OUTAGE_READS):
            d.check()
            started = time.monotonic()
            statuses.append(_status(t, url, headers))
            latencies.append((time.monotonic() - started) * 1000)
        failed_reads = sum(1 for status in statuses if not _ok(status))
        errors_5xx = sum(1 for status in statuses if status is not None and status >= 500)
        latencies.sort()
        p95 = round(latencies[int(0.95 * (len(latencies) - 1))], 1)
        d.event("reads during the outage", reads=OUTAGE_READS, errors_5xx=errors_5xx, p95_ms=p95)
        d.hook("redis_up")
        recovery_s, probes = poll_until(
            d,
            lambda: _ok(_status(t, url, headers)) and _ok(_status(t, t.route("ready"))),
            RECOVERY_DEADLINE_S,
        )
        d.event("recovered" if recovery_s is not None else "not recovered", probes=probes)
    finally:
        delete_quietly(t, headers, [item_id])
    evidence = {
        "reads": OUTAGE_READS,
        "errors_5xx": errors_5xx,
        "failed_reads": failed_reads,
        "statuses": dict(Counter(str(status) for status in statuses)),
        "p95_ms": p95,
        "recovery_s": recovery_s,
    }
    if failed_reads > MAX_FAILED_SHARE * OUTAGE_READS:
        raise DrillFault(
            f"with Redis down {failed_reads} of {OUTAGE_READS} reads failed "
            f"({errors_5xx} answered 5xx): Redis is a hard dependency",
            **evidence,
        )
    if recovery_s is None:
        raise DrillFault(
            f"not healthy again {RECOVERY_DEADLINE_S:g}s after redis_up (reads or readiness)",
            **evidence,
        )
    return passed(
        f"with Redis down {OUTAGE_READS - failed_reads}/{OUTAGE_READS} reads succeeded "
        f"(p95 {p95:g} ms); healthy {recovery_s:g}s after restore",
        **evidence,
    )


# --- chaos.db_readiness ---


@drill("chaos.db_readiness", hooks=("db_down",), restore=("db_up",))
def db_readiness(t: Target, d: Drill) -> Verdict:
    ready = t.route("ready")
    route = f"GET {t.profile.paths.ready}"
    before = _status(t, ready)
    if not _ok(before):
        return errored(f"{route} answered {before} before the drill: cannot judge the flip")
    d.hook("db_down")
    flip_s, flip_probes = poll_until(d, lambda: not _ok(_status(t, ready)), FLIP_WATCH_S)
    d.event(
        f"{route} turned non-2xx" if flip_s is not None else f"{route} stayed 2xx",
        after_s=flip_s,
        probes=flip_probes,
    )
    d.hook("db_up")
    recovery_s, probes = poll_until(d, lambda: _ok(_status(t, ready)), RECOVERY_DEADLINE_S)
    d.event(f"{route} 2xx again" if recovery_s is not None else "not recovered", probes=probes)
    evidence = {
        "flip_s": flip_s,
        "recovery_s": recovery_s,
        "poll_interval_s": POLL_S,
        "limit_s": FLIP_LIMIT_S,
    }
    if flip_s is None:
        raise DrillFault(
            f"{route} stayed 2xx for {FLIP_WATCH_S:g}s with the database down: readiness "
            "ignores the database",
            **evidence,
        )
    if flip_s > FLIP_LIMIT_S:
        raise DrillFault(
            f"{route} turned non-2xx {flip_s:g}s after db_down (limit {FLIP_LIMIT_S:g}s)",
            **evidence,
        )
    if recovery_s is None:
        raise DrillFault(f"{route} not 2xx {RECOVERY_DEADLINE_S:g}s after db_up", **evidence)
    return passed(
        f"{route} turned non-2xx {flip_s:g}s after db_down and was ready {recovery_s:g}s "
        "after db_up",
        **evidence,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "chaos.redis_outage",
        "nonfunctional",
        "With Redis down reads still succeed; healthy after restore",
        redis_outage,
        timeout_s=120.0,
        isolated_because="takes the service's Redis down: other checks would see the outage",
    ),
    CheckSpec(
        "chaos.db_readiness",
        "nonfunctional",
        "With the DB down /ready turns non-2xx within 5 s; recovers after restore",
        db_readiness,
        timeout_s=120.0,
        isolated_because="takes the service's database down: other checks would fail with it",
    ),
)
