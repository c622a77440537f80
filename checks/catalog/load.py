"""Runbook step 4, load: hold target RPS x 1.2 within the SLA, and the cache hit ratio.

One Locust run per target serves both checks (``Target.shared``): the cache ratio is read
from the service's /metrics counters before and after that same load.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.parser import text_string_to_metric_families

from checks.engine.hooks import Drill, DrillFault, drill, refuse_forbidden
from checks.engine.http import Resolver, system_resolver
from checks.engine.locust_runner import LoadPlan, LocustFailed, run_locust
from checks.engine.outcome import MissingSetting, Verdict, errored, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

OFFERED_FACTOR = 1.2  # the runbook's headroom: test at target RPS + 20%
RPS_PER_USER = 4.0  # default pacing; slow services need more, concurrent users (load.users)
MAX_DEFAULT_USERS = 500
STEADY_FROM_S = 2.0  # the first second holds the spawn burst; judge the rate after it
DB_SAMPLE_EVERY_S = 3.0
_SHARED_KEY = "catalog.load.run"


def plan_for(t: Target, forbidden: Any = ()) -> LoadPlan:
    """The Locust run for this target; the base URL's host is judged (and pinned) first."""
    load = t.profile.load
    if load.target_rps is None:
        raise MissingSetting("load.target_rps", "the request rate the service must hold")
    offered = load.target_rps * OFFERED_FACTOR
    users = load.users or max(2, min(MAX_DEFAULT_USERS, math.ceil(offered / RPS_PER_USER)))
    base = t.profile.service.base_url
    address = judge_host(t, base, forbidden)
    return LoadPlan(
        host=base,
        address=address,
        items_path=t.profile.paths.items,
        token=t.access_token(),
        offered_rps=round(offered, 3),
        users=users,
        duration_s=load.duration_s,
        ca_file=str(t.profile.tls.ca_file) if t.profile.tls.ca_file else None,
        workers=load.workers,
        master_bind_host=load.master_bind_host,
        master_bind_port=load.master_bind_port,
    )


def judge_host(t: Target, url: str, forbidden: Any = ()) -> str:
    """Judge the base URL's host with the run's DestinationPolicy and return the address to
    pin. Locust's traffic cannot go through the guarded client (its own gevent client, in
    another process), so the locustfile connects only to this address (no DNS lookup of its
    own, so no rebinding) and follows no redirect."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    t.policy.check_url(url)
    resolver: Resolver = getattr(getattr(t.http, "backend", None), "resolver", system_resolver)
    address = t.policy.check_host(parts.hostname or "", port, resolver)
    refuse_forbidden(url, forbidden)
    return str(address)


def cache_counters(t: Target) -> dict[str, float] | None:
    """Summed cache hit and miss counters from /metrics, or None when there are none (or no
    metrics route: only load.cache_hit_ratio needs them, never the load test itself)."""
    if not t.profile.paths.metrics:
        return None
    response = t.http.get(t.route("metrics"))
    if response.status_code != 200:
        return None
    totals = {"hits": 0.0, "misses": 0.0}
    found = False
    try:
        for family in text_string_to_metric_families(response.text):
            name = family.name.lower()
            if family.type != "counter" or "cache" not in name:
                continue
            kind = "hits" if "hit" in name else "misses" if "miss" in name else None
            for sample in family.samples:
                if kind and sample.name.endswith("_total"):
                    totals[kind] += sample.value
                    found = True
    except (ValueError, TypeError, IndexError):
        return None
    return totals if found else None


class DbSampler:
    """``serverStatus`` every few seconds while the load runs, when ``[mongo]`` is set."""

    def __init__(self, t: Target, d: Drill) -> None:
        self.t, self.d = t, d
        self.samples: list[dict[str, Any]] = []
        self.note: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.t.profile.mongo.uri is None:
            self.note = "no [mongo] uri in the profile: database not sampled"
            return
        self._thread = threading.Thread(target=self._loop, name="load-db-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        from checks.catalog import _mongo  # the db checks' judged, shared connection

        try:
            dep = _mongo.deployment(self.t)
            while not self._stop.is_set():
                status = _mongo.command(dep, "admin", {"serverStatus": 1})
                self.samples.append(_server_status(status, self.d.elapsed()))
                self._stop.wait(DB_SAMPLE_EVERY_S)
        except ValueError as exc:  # the db helpers' command allowlist lacks serverStatus
            self.note = f"database not sampled: {exc}"
        except Exception as exc:  # sampling is evidence, never the verdict
            self.note = f"database sampling stopped: {type(exc).__name__}: {exc}"


def _server_status(status: dict[str, Any], t: float) -> dict[str, Any]:
    connections = status.get("connections") or {}
    queue = (status.get("globalLock") or {}).get("currentQueue") or {}
    return {
        "t": t,
        "connections": connections.get("current"),
        "opcounters": dict(status.get("opcounters") or {}),
        "resident_mb": (status.get("mem") or {}).get("resident"),
        "queued": queue.get("total"),
    }


def _steady_rps(samples: list[dict[str, Any]], fallback: float) -> float:
    steady = [row["rps"] for row in samples if row["t"] >= STEADY_FROM_S]
    return round(sum(steady) / len(steady), 2) if steady else round(fallback, 2)


def _load_run(t: Target, d: Drill) -> dict[str, Any]:
    """Run the load once: counters before, Locust, counters after, DB samples alongside."""
    plan = plan_for(t, d.context.forbidden)
    before = cache_counters(t)
    d.event(
        "load started",
        offered_rps=plan.offered_rps,
        users=plan.users,
        duration_s=plan.duration_s,
    )
    sampler = DbSampler(t, d)
    sampler.start()
    try:
        stats = run_locust(plan, tick=d.check)
    finally:
        sampler.stop()
    d.event("load finished", requests=stats.totals.get("requests"), redirects=stats.redirects)
    after = cache_counters(t)
    target = t.profile.load.target_rps
    totals = {
        "requests": stats.totals.get("requests", 0),
        "failures": stats.totals.get("failures", 0),
        "rps": _steady_rps(stats.samples, stats.totals.get("rps", 0.0)),
        "p50_ms": stats.totals.get("p50_ms"),
        "p95_ms": stats.totals.get("p95_ms"),
        "p99_ms": stats.totals.get("p99_ms"),
        "target_rps": target,
        "offered_rps": plan.offered_rps,
    }
    return {
        "totals": totals,
        "samples": stats.samples,
        "endpoints": stats.endpoints,
        "failures": stats.failures,
        "redirects": stats.redirects,
        "locust_total_rps": stats.totals.get("rps"),
        "users": plan.users,
        "duration_s": plan.duration_s,
        "cache_before": before,
        "cache_after": after,
        "db_samples": sampler.samples,
        "db_note": sampler.note,
        "ran_at": time.time(),
    }


def shared_load(t: Target, d: Drill) -> tuple[dict[str, Any], bool]:
    """The run's load result, and whether this call produced it (False: reused)."""
    fresh: list[bool] = []

    def produce() -> dict[str, Any]:
        fresh.append(True)
        return _load_run(t, d)

    result = t.shared(_SHARED_KEY, produce)
    return result, bool(fresh)


def _needs_rate(t: Target) -> None:
    if t.profile.load.target_rps is None:
        raise MissingSetting("load.target_rps", "the request rate the service must hold")


def _needs_cache_target(t: Target) -> None:
    if t.profile.load.cache_hit_target is None:
        raise MissingSetting("load.cache_hit_target", "the hit ratio the cache must reach")
    t.route("metrics")  # the ratio is read from the service's /metrics counters
    _needs_rate(t)


@drill("load.target_rps", requires=_needs_rate)
def target_rps(t: Target, d: Drill) -> Verdict:
    load = t.profile.load
    try:
        run, _fresh = shared_load(t, d)
    except LocustFailed as exc:
        return errored(f"the load generator failed: {exc}")
    totals = run["totals"]
    keys = ("totals", "endpoints", "failures", "redirects", "users", "duration_s", "samples")
    evidence = {k: run[k] for k in keys}
    evidence.update(
        db_samples=run["db_samples"],
        db_note=run["db_note"],
        locust_total_rps=run["locust_total_rps"],
    )
    requests = totals["requests"] or 0
    error_rate = (totals["failures"] / requests) if requests else 1.0
    floor = totals["offered_rps"] * (1 - load.tolerance)
    problems = []
    if totals["rps"] < floor:
        problems.append(
            f"held {totals['rps']:g} req/s of the {totals['offered_rps']:g} offered "
            f"(needs ≥ {floor:.1f})"
        )
    if totals["p95_ms"] is None or totals["p95_ms"] > load.p95_ms:
        problems.append(f"p95 {totals['p95_ms']} ms over the {load.p95_ms:g} ms SLA")
    redirects = f" ({run['redirects']} redirects, not followed)" if run["redirects"] else ""
    if error_rate > load.max_error_rate:
        problems.append(f"error rate {error_rate:.2%} over {load.max_error_rate:.2%}{redirects}")
    evidence["error_rate"] = round(error_rate, 4)
    if problems:
        raise DrillFault("; ".join(problems), **evidence)
    return passed(
        f"held {totals['rps']:g} req/s (offered {totals['offered_rps']:g} = target x "
        f"{OFFERED_FACTOR:g}), p95 {totals['p95_ms']:g} ms, errors {error_rate:.2%}{redirects}",
        **evidence,
    )


@drill("load.cache_hit_ratio", requires=_needs_cache_target)
def cache_hit_ratio(t: Target, d: Drill) -> Verdict:
    wanted = t.profile.load.cache_hit_target
    assert wanted is not None
    try:
        run, fresh = shared_load(t, d)
    except LocustFailed as exc:
        return errored(f"the load generator failed: {exc}")
    d.event("load run of load.target_rps reused" if not fresh else "load run for this check")
    before, after = run["cache_before"], run["cache_after"]
    if before is None or after is None:
        raise DrillFault(f"GET {t.profile.paths.metrics} has no cache hit/miss counters")
    hits = after["hits"] - before["hits"]
    misses = after["misses"] - before["misses"]
    evidence = {"hits": hits, "misses": misses, "target": wanted, "reused_load": not fresh}
    if hits + misses <= 0:
        raise DrillFault("the cache counters did not move during the load", **evidence)
    ratio = round(hits / (hits + misses), 4)
    evidence["ratio"] = ratio
    if ratio < wanted:
        raise DrillFault(f"cache hit ratio {ratio:.1%} below the {wanted:.0%} target", **evidence)
    return passed(f"cache hit ratio {ratio:.1%} (target {wanted:.0%})", **evidence)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "load.target_rps",
        "nonfunctional",
        "Holds target RPS x 1.2 within the p95 SLA and error limit",
        target_rps,
        timeout_s=780.0,
        isolated_because=(
            "drives target RPS x 1.2 at the service: other checks would slow it and be slowed by it"
        ),
    ),
    CheckSpec(
        "load.cache_hit_ratio",
        "nonfunctional",
        "Cache hit ratio under load meets the target",
        cache_hit_ratio,
        timeout_s=780.0,
        isolated_because=(
            "reads the cache counters around a load test: other checks' traffic would move them"
        ),
    ),
)
