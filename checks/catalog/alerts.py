"""Runbook step 5, the alert drill: make the service fail, and see the alert arrive.

The drill only switches errors on (hook ``errors_on``) and sends light traffic so there is an
error rate to see; the alert must come the real way — the team's Prometheus rule fires,
Alertmanager posts to the portal's ``/hooks/alertmanager`` — and is read back through the
Target's alert source, which only the portal can provide (the CLI skips, saying why).
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import httpx

from checks.engine.hooks import AlertSeen, Drill, DrillFault, drill, drill_context
from checks.engine.outcome import Verdict, errored, passed, skipped
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

CHECK_ALERTS_EVERY_S = 1.0
QUIET_LOOKBACK_S = 3600.0
# Webhook and worker clocks are the same machine's or NTP-synced; allow a little skew.
CLOCK_SLACK_S = 1.0


def matchers_of(t: Target) -> dict[str, str]:
    return dict(t.profile.alerts.matchers) or {"service": t.profile.service.name}


def _needs_alert_source(t: Target) -> Verdict | None:
    """Skip without an alert source; refuse to start while a matching alert still fires,
    since Alertmanager would not notify again and the drill would wrongly fail."""
    context = drill_context(t)
    if context.alert_source is None:
        setting = {"setting": context.alert_source_setting} if context.alert_source_setting else {}
        return skipped(f"no alert source: {context.alert_source_missing}", **setting)
    matchers = matchers_of(t)
    recent = context.alert_source(matchers, time.time() - QUIET_LOOKBACK_S)
    latest = max(recent, key=lambda a: a.received_at, default=None)
    if latest is not None and latest.status == "firing":
        return errored(
            f"an alert matching {matchers} is still firing (last notification "
            f"{time.time() - latest.received_at:.0f}s ago): the drill needs it resolved first"
        )
    return None


def _first(
    seen: list[AlertSeen], status: str, after: float, labels: Mapping[str, str]
) -> AlertSeen | None:
    for alert in sorted(seen, key=lambda a: a.received_at):
        if (
            alert.status == status
            and alert.received_at >= after - CLOCK_SLACK_S
            and all(alert.labels.get(k) == v for k, v in labels.items())
        ):
            return alert
    return None


class _Traffic:
    """Requests at a steady pace, so the rule has an error rate to compute."""

    def __init__(self, t: Target, rps: float) -> None:
        self.t, self.gap = t, 1.0 / rps
        self.sent = self.errors_5xx = 0
        self._next = time.monotonic()

    def pump(self, until: float) -> None:
        url = self.t.route("health")
        while time.monotonic() < until:
            if time.monotonic() >= self._next:
                self._next += self.gap
                self.sent += 1
                try:
                    if self.t.http.get(url, timeout=2.0).status_code >= 500:
                        self.errors_5xx += 1
                except (httpx.TimeoutException, httpx.TransportError):
                    self.errors_5xx += 1
            time.sleep(max(0.0, min(self._next, until) - time.monotonic()))


def _wait_for(
    d: Drill, status: str, after: float, deadline_s: float, traffic: _Traffic | None
) -> AlertSeen | None:
    source = d.context.alert_source
    assert source is not None
    matchers = matchers_of(d.t)
    until = time.monotonic() + deadline_s
    while time.monotonic() < until:
        d.check()
        found = _first(source(matchers, after - CLOCK_SLACK_S), status, after, matchers)
        if found is not None:
            return found
        step = min(until, time.monotonic() + CHECK_ALERTS_EVERY_S)
        if traffic is not None:
            traffic.pump(step)
        else:
            d.sleep(max(0.0, step - time.monotonic()))
    return None


@drill(
    "alerts.error_drill",
    hooks=("errors_on",),
    restore=("errors_off",),
    requires=_needs_alert_source,
)
def error_drill(t: Target, d: Drill) -> Verdict:
    settings = t.profile.alerts
    matchers = matchers_of(t)
    d.hook("errors_on")
    switched_on = time.time()
    traffic = _Traffic(t, settings.traffic_rps)
    fired = _wait_for(d, "firing", switched_on, settings.deadline_s, traffic)
    time_to_alert = round(fired.received_at - switched_on, 3) if fired else None
    d.event(
        "alert received" if fired else "no alert before the deadline",
        after_s=time_to_alert,
        labels=dict(fired.labels) if fired else None,
    )
    d.hook("errors_off")
    switched_off = time.time()
    resolved = None
    if fired is not None:
        resolved = _wait_for(d, "resolved", switched_off, settings.resolve_deadline_s, None)
    time_to_resolve = round(resolved.received_at - switched_off, 3) if resolved else None
    if fired is not None:
        d.event(
            "alert resolved" if resolved else "not resolved before the deadline",
            after_s=time_to_resolve,
        )
    evidence = {
        "time_to_alert_s": time_to_alert,
        "time_to_resolve_s": time_to_resolve,
        "matchers": matchers,
        "requests": traffic.sent,
        "errors_5xx": traffic.errors_5xx,
        "alert_labels": dict(fired.labels) if fired else None,
    }
    if fired is None:
        raise DrillFault(
            f"no alert matching {matchers} reached the portal within {settings.deadline_s:g}s "
            f"of errors_on ({traffic.errors_5xx} of {traffic.sent} drill requests answered 5xx)",
            **evidence,
        )
    if resolved is None:
        raise DrillFault(
            f"the alert fired after {time_to_alert:g}s but was not resolved within "
            f"{settings.resolve_deadline_s:g}s of errors_off",
            **evidence,
        )
    return passed(
        f"alert {matchers} fired {time_to_alert:g}s after errors_on and resolved "
        f"{time_to_resolve:g}s after errors_off",
        **evidence,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "alerts.error_drill",
        "observability",
        "An error burst raises an alert that reaches the portal",
        error_drill,
        timeout_s=7500.0,  # both deadlines (at most an hour each) and the hooks
        isolated_because=(
            "makes the service answer errors on purpose, which other checks would receive"
        ),
    ),
)
