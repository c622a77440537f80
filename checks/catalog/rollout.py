"""Runbook step 6, the canary drill: route a small share to a canary, watch it, roll back.

Versions are read from ``X-App-Version`` (reference-api.md): the stable version is what the
service answers before the drill, the canary any other (or ``rollout.canary_version``).
"""

from __future__ import annotations

import math
import time
from collections import Counter

import httpx

from checks.engine.hooks import Drill, DrillFault, drill
from checks.engine.outcome import Verdict, errored, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

BASELINE_SAMPLES = 20
# After rollback a whole batch must answer the stable version. With a stuck 10% canary the
# chance that 100 responses all miss it is 0.9**100, about 3e-5: no false "rolled back".
CONFIRM_BATCH = 100
MIN_SHARE_TOLERANCE = 0.02


def _version(t: Target) -> tuple[str | None, int | None, float]:
    started = time.monotonic()
    try:
        response = t.http.get(t.route("version"), timeout=5.0)
    except (httpx.TimeoutException, httpx.TransportError):
        return None, None, (time.monotonic() - started) * 1000
    return response.headers.get("X-App-Version"), response.status_code, response_ms(response)


def response_ms(response: httpx.Response) -> float:
    try:
        return response.elapsed.total_seconds() * 1000
    except RuntimeError:
        return 0.0


def share_tolerance(weight: int, n: int) -> float:
    """Three binomial standard deviations: a correct canary passes ~99.7% of the time."""
    p = weight / 100
    return max(3 * math.sqrt(p * (1 - p) / n), MIN_SHARE_TOLERANCE)


def _stable_only(t: Target, stable: str) -> bool:
    return all(_version(t)[0] == stable for _ in range(CONFIRM_BATCH))


@drill("rollout.canary_drill", hooks=("canary",), restore=("rollback",))
def canary_drill(t: Target, d: Drill) -> Verdict:
    settings = t.profile.rollout
    baseline = Counter(_version(t)[0] for _ in range(BASELINE_SAMPLES))
    stable, count = baseline.most_common(1)[0]
    if stable is None or count != BASELINE_SAMPLES:
        return errored(f"versions before the drill were not one stable version: {dict(baseline)}")
    d.event("stable version", version=stable)
    d.hook("canary")
    gap = settings.window_s / settings.sample_size
    versions: Counter[str] = Counter()
    errors = 0
    latencies: list[float] = []
    for _ in range(settings.sample_size):
        d.check()
        next_at = time.monotonic() + gap
        version, status, ms = _version(t)
        versions[str(version)] += 1
        errors += status is None or status >= 500
        latencies.append(ms)
        time.sleep(max(0.0, next_at - time.monotonic()))
    n = settings.sample_size
    if settings.canary_version is not None:
        canary_hits = versions.get(settings.canary_version, 0)
    else:
        canary_hits = n - versions.get(stable, 0)
    share = round(canary_hits / n, 4)
    latencies.sort()
    p95 = round(latencies[int(0.95 * (n - 1))], 1)
    d.event("canary sampled", share=share, errors=errors, p95_ms=p95)
    d.hook("rollback")
    rollback_s = None
    started = time.monotonic()
    while time.monotonic() - started < settings.deadline_s:
        d.check()
        if _stable_only(t, stable):
            rollback_s = round(time.monotonic() - started, 3)
            break
        d.sleep(0.25)
    d.event("only the stable version again" if rollback_s is not None else "canary still served")
    weight = settings.canary_weight
    tolerance = share_tolerance(weight, n)
    evidence = {
        "canary_share": share,
        "rollback_s": rollback_s,
        "expected_share": weight / 100,
        "tolerance": round(tolerance, 4),
        "versions": dict(versions),
        "stable_version": stable,
        "errors": errors,
        "p95_ms": p95,
        "samples": n,
    }
    problems = []
    if abs(share - weight / 100) > tolerance:
        problems.append(f"canary share {share:.1%}, expected {weight}% ± {tolerance:.1%}")
    if errors / n > settings.max_error_rate:
        problems.append(f"{errors} of {n} requests failed during the canary")
    if p95 > t.profile.load.p95_ms:
        problems.append(f"p95 {p95:g} ms over the {t.profile.load.p95_ms:g} ms SLA")
    if rollback_s is None:
        problems.append(
            f"after rollback responses still carried a non-{stable} version for "
            f"{settings.deadline_s:g}s"
        )
    if problems:
        raise DrillFault("; ".join(problems), **evidence)
    return passed(
        f"canary answered {share:.1%} (expected {weight}%), {errors} errors, p95 {p95:g} ms; "
        f"only {stable} {rollback_s:g}s after rollback",
        **evidence,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "rollout.canary_drill",
        "rollout",
        "A 10% canary gets ~10% of traffic; rollback restores the stable version",
        canary_drill,
        timeout_s=7500.0,  # window and deadline (at most an hour each) and the samples
        isolated_because=(
            "shifts a share of the traffic to a canary version, which every other check would see"
        ),
    ),
)
