"""The Celery application: broker from CELERY_BROKER_URL, schedules from django-celery-beat."""

import os

from celery import Celery
from celery.signals import worker_process_init

from app.tracing import configure_tracing

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")

app = Celery("preflight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _tracing(**_: object) -> None:
    configure_tracing("preflight-worker")
