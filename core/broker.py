"""Handing a task to the broker from a web request without ever waiting on a dead broker."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from django.conf import settings

log = logging.getLogger(__name__)


def enqueue(task: Task | str, *args: Any) -> bool:
    """Publish ``task(*args)``; False (and a warning) when the broker does not take it.

    ``task`` may be the task's registered name: a domain module then enqueues its app's task
    without importing the tasks module that imports it back.

    The broker URL is read now, not at import, so a broker that comes back (or a test's
    settings) is honoured; one short-lived connection per message is cheap enough. No
    connection retries and a 1 s connect timeout: the caller's request must not wait."""
    if isinstance(task, str):
        if task not in current_app.tasks:
            # A web process has imported no tasks module yet: the apps' tasks modules are
            # what autodiscovery imports (the worker does this at start-up).
            current_app.loader.import_default_modules()
        task = current_app.tasks[task]  # an unknown name is a bug: raises, not "not enqueued"
    try:
        options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "max_retries": 0}
        with task.app.connection_for_write(
            settings.CELERY_BROKER_URL, connect_timeout=1, transport_options=options
        ) as conn:
            task.apply_async(args=list(args), connection=conn, retry=False)
    except Exception as exc:  # kombu raises many kinds; all mean "not enqueued"
        log.warning("%s%r not enqueued (broker unavailable?): %s", task.name, args, exc)
        return False
    return True
