"""Observability checks: request ids and the Prometheus metrics endpoint."""

from __future__ import annotations

import re
import secrets
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from checks.catalog._util import exchange, verdict
from checks.engine.outcome import Verdict, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

# --- observability.request_id ---


@verdict
def request_id(t: Target) -> Verdict:
    url = t.url(t.profile.paths.probe_path())
    sent = f"preflight-{secrets.token_hex(8)}"
    plain = [t.http.get(url), t.http.get(url)]
    echoed = t.http.get(url, headers={"X-Request-ID": sent})
    generated = [r.headers.get("X-Request-ID") for r in plain]
    evidence = {
        "generated": generated,
        "sent": sent,
        "echoed": echoed.headers.get("X-Request-ID"),
        "responses": [exchange(r, "X-Request-ID", body=False) for r in [*plain, echoed]],
    }
    if not all(generated):
        return failed("a response to a request without X-Request-ID carried none", **evidence)
    if generated[0] == generated[1]:
        return failed("two requests got the same X-Request-ID: it is not generated", **evidence)
    if echoed.headers.get("X-Request-ID") != sent:
        return failed("a sent X-Request-ID was not echoed back", **evidence)
    return passed("X-Request-ID generated per request and echoed when sent", **evidence)


# --- observability.metrics ---

_LATENCY = re.compile(r"request|http|latency|duration", re.IGNORECASE)
_STATUS_LABELS = ("status", "status_code", "code")


def _latency_histograms(families: list[Metric]) -> list[str]:
    return [
        f.name
        for f in families
        if f.type == "histogram"
        and _LATENCY.search(f.name)
        and any(s.name.endswith("_bucket") for s in f.samples)
    ]


def _error_counters(families: list[Metric]) -> list[str]:
    """Counters of errors: named so, or counting by a status label that holds a 4xx/5xx."""
    found = []
    for f in families:
        if f.type != "counter":
            continue
        by_status = any(
            str(s.labels.get(label, ""))[:1] in ("4", "5")
            for s in f.samples
            for label in _STATUS_LABELS
        )
        if by_status or "error" in f.name.lower():
            found.append(f.name)
    return found


def _cache_counters(families: list[Metric]) -> dict[str, list[str]]:
    """Cache hit and miss counters: by metric name, or by a hit/miss label value."""
    kinds: dict[str, list[str]] = {"hit": [], "miss": []}
    for f in families:
        if f.type != "counter" or "cache" not in f.name.lower():
            continue
        values = {str(v).lower() for s in f.samples for v in s.labels.values()}
        for kind in kinds:
            if kind in f.name.lower() or any(v.startswith(kind) for v in values):
                kinds[kind].append(f.name)
    return kinds


def _parse(text: str) -> list[Metric] | str:
    try:
        return list(text_string_to_metric_families(text))
    except (ValueError, TypeError, IndexError) as exc:
        return f"{type(exc).__name__}: {exc}"


@verdict
def metrics(t: Target) -> Verdict:
    url = t.route("metrics")
    # Provoke a 404 first so a counter by status has an error sample to show.
    t.http.get(t.url(f"/preflight-no-such-route-{secrets.token_hex(4)}"))
    response = t.http.get(url)
    route = f"GET {t.profile.paths.metrics}"
    if response.status_code != 200:
        return failed(
            f"{route} answered {response.status_code}, expected 200", response=exchange(response)
        )
    families = _parse(response.text)
    if isinstance(families, str):
        return failed(
            f"{route} is not Prometheus text format: {families}", response=exchange(response)
        )
    found: dict[str, Any] = {
        "latency_histograms": _latency_histograms(families),
        "error_counters": _error_counters(families),
        **{f"cache_{k}_counters": v for k, v in _cache_counters(families).items()},
    }
    missing = [
        what
        for what, key in (
            ("a latency histogram with _bucket series", "latency_histograms"),
            ("error counts", "error_counters"),
            ("a cache hit counter", "cache_hit_counters"),
            ("a cache miss counter", "cache_miss_counters"),
        )
        if not found[key]
    ]
    evidence = {"families": len(families), **found, "response": exchange(response, body=False)}
    if missing:
        return failed(f"{route} lacks {', '.join(missing)}", **evidence)
    return passed(
        f"{route} parses and has a latency histogram, error counts and cache hit/miss counters",
        **evidence,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("observability.request_id", "http", "X-Request-ID generated and echoed", request_id),
    CheckSpec(
        "observability.metrics", "http", "Prometheus metrics: latency, errors, cache", metrics
    ),
)
