"""The worker side of drills: lend a run's Target the portal's lock, heartbeat, cancel flag
and alert source (checks.engine.hooks.DrillContext), so the framework-free drill checks can
be recorded, cancelled and judged without importing Django."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection

from checks.engine import Target, Verdict
from checks.engine.hooks import AlertSeen, DrillBusy, DrillContext, set_drill_context
from checks.models import ValidationRun
from checks.services import runs
from drills import services

CANCEL_POLL_S = 0.5
NO_WEBHOOK_TOKEN = (
    "PREFLIGHT_ALERTMANAGER_TOKEN is not set, so /hooks/alertmanager refuses every alert: run "
    "Prometheus and Alertmanager posting there with that token (`make run` starts both when "
    "Debian's prometheus and prometheus-alertmanager packages are installed)"
)


class PortalDrills:
    """DrillContext callbacks for one run. Called from the runner's check threads: each
    thread gets its own DB connection, closed when its drill ends."""

    def __init__(self, run: ValidationRun) -> None:
        self.run = run
        self._ids: dict[str, int] = {}
        self._cancel: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def begin(self, key: str, restore: list[str]) -> None:
        try:
            drill = services.drill_begin(
                service=self.run.service, run=self.run, key=key, restore=restore
            )
        except DrillBusy:
            _close_thread_connection()
            raise
        with self._lock:
            self._ids[key] = drill.pk

    def progress(self, key: str, timeline: list[dict[str, Any]]) -> None:
        services.drill_progress(drill_id=self._ids[key], timeline=timeline)

    def cancelled(self, key: str) -> bool:
        """A cancel asked for from the drill's page, or the run taken over by another
        execution (this one was presumed dead): either way the drill restores and stops."""
        checked_at, value = self._cancel.get(key, (0.0, False))
        if not value and time.monotonic() - checked_at >= CANCEL_POLL_S:
            value = services.drill_cancel_requested(
                drill_id=self._ids[key]
            ) or not runs.still_owned(self.run.pk, self.run.claim_token)
            self._cancel[key] = (time.monotonic(), value)
        return value

    def end(self, key: str, verdict: Verdict) -> None:
        try:
            services.drill_end(drill_id=self._ids[key], verdict=verdict)
        finally:
            _close_thread_connection()

    def alerts(self, matchers: Mapping[str, str], since: float) -> list[AlertSeen]:
        close_old_connections()
        found = services.alerts_since(
            matchers=matchers, since=datetime.fromtimestamp(since, tz=UTC)
        )
        return [AlertSeen(a.status, a.received_at.timestamp(), dict(a.labels)) for a in found]


def _close_thread_connection() -> None:
    """Close a check thread's own DB connection (the thread ends with its check). Never the
    main thread's: that one belongs to the caller (a test's transaction, the task)."""
    if threading.current_thread() is not threading.main_thread():
        connection.close()


def on_target_built(sender: Any, *, run: ValidationRun, target: Target, **_: Any) -> None:
    """checks.signals.target_built: every run's target gets the drill context (the drill
    checks' lock, heartbeat, cancel flag, alert source), connected at DrillsConfig.ready."""
    attach(target, run)


def attach(target: Target, run: ValidationRun) -> None:
    """Give ``target`` the portal's drill context for ``run``."""
    portal = PortalDrills(run)
    # Without the webhook's token every alert is refused at the door: the alert drill would
    # wait out its deadline and fail. It skips instead, naming the setting.
    webhook_open = bool(settings.PREFLIGHT_ALERTMANAGER_TOKEN)
    set_drill_context(
        target,
        DrillContext(
            alert_source=portal.alerts if webhook_open else None,
            alert_source_missing=NO_WEBHOOK_TOKEN,
            alert_source_setting="" if webhook_open else "PREFLIGHT_ALERTMANAGER_TOKEN",
            forbidden=services.portal_endpoints(),
            begin=portal.begin,
            progress=portal.progress,
            end=portal.end,
            cancelled=portal.cancelled,
        ),
    )
