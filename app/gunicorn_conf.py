"""gunicorn settings read by deploy/entrypoint.sh (``--config python:app.gunicorn_conf``).

With several worker processes, Prometheus counters live in files under
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode) so that /metrics reports the
sum over every worker; a worker that exits has its live gauges dropped here."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
