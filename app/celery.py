"""The Celery application: broker from CELERY_BROKER_URL, schedules from django-celery-beat."""

import ctypes
import ctypes.util
import gc
import itertools
import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, worker_process_init

from app.tracing import configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

app = Celery("preflight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tracing(**_: object) -> None:
    configure_tracing("preflight-worker")


# Flat memory over a night of runs: a threads-pool worker frees most of what a run allocated,
# but glibc keeps the freed pages in its per-thread arenas, so RSS creeps up run after run.
# Every TRIM_EVERY tasks: collect cycles, then hand free heap pages back to the OS.
TRIM_EVERY = 25
_tasks_done = itertools.count(1)
_libc_name = ctypes.util.find_library("c")
_malloc_trim = getattr(ctypes.CDLL(_libc_name), "malloc_trim", None) if _libc_name else None


@task_postrun.connect
def _trim_memory(**_: Any) -> None:
    if next(_tasks_done) % TRIM_EVERY:
        return
    gc.collect()
    if _malloc_trim is not None:
        _malloc_trim(0)
