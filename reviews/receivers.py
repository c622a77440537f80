"""Reactions to readiness changes: invalidate approvals on regression, tell the team about a
failing scheduled run. Connected in ReviewsConfig.ready."""

from __future__ import annotations

from typing import Any

from checks.models import ValidationRun
from portal.models import Service
from reviews import notify, services


def on_item_states_changed(sender: Any, service: Service, **kwargs: Any) -> None:
    services.invalidate_approvals(service=service)


def on_run_finished(sender: Any, run: ValidationRun, **kwargs: Any) -> None:
    # Any finished run can undo an approval, a passed one too: a check that verifies a
    # blocking item skipped where it used to pass is a regression.
    services.invalidate_approvals(
        service=run.service,
        failed_run_id=run.pk if run.status != ValidationRun.Status.PASSED else None,
    )
    if run.trigger == ValidationRun.Trigger.SCHEDULE and run.status != ValidationRun.Status.PASSED:
        notify.run_failed(run)
