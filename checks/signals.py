"""Signals of the checks app."""

from __future__ import annotations

from django.dispatch import Signal

# Sent after a run reached a final status (passed, failed, error) and its results fed the
# checklist. args: run (a ValidationRun)
run_finished = Signal()
