"""Signals of the checks app."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a run reached a final status (passed, failed, error) and its results fed the
# checklist. args: run (a ValidationRun)
run_finished = Signal()

# Sent when a run's Target is built, before any check runs: an app that lends the checks
# something of its own (drills: the lock, heartbeat, cancel flag and alert source) attaches
# it here, so this app never imports it. args: run (a ValidationRun), target (an engine
# Target). A receiver that raises fails the run's execution, as any error there would.
target_built = Signal()
