"""Request IDs: taken from X-Request-ID when it is sane, generated otherwise, echoed on every
response, put in every log line, and carried into Celery tasks the request enqueues."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from celery.signals import before_task_publish, task_postrun, task_prerun
from django.http import HttpRequest, HttpResponse

request_id: ContextVar[str] = ContextVar("request_id", default="")
user_id: ContextVar[str] = ContextVar("user_id", default="")

HEADER = "X-Request-ID"
_CELERY_HEADER = "preflight_request_id"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def new_id() -> str:
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get(HEADER, "")
        rid = sent if _SANE.match(sent) else new_id()
        token = request_id.set(rid)
        request.request_id = rid  # type: ignore[attr-defined]
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[HEADER] = rid
        return response


class UserIdMiddleware:
    """After authentication: the signed-in user's id goes into the log context."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        token = user_id.set(str(user.pk) if user is not None and user.is_authenticated else "")
        try:
            return self.get_response(request)
        finally:
            user_id.reset(token)


@before_task_publish.connect
def _carry_request_id(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None and request_id.get():
        headers[_CELERY_HEADER] = request_id.get()


@task_prerun.connect
def _adopt_request_id(task: Any = None, **_: Any) -> None:
    rid = getattr(task.request, _CELERY_HEADER, None) if task is not None else None
    request_id.set(rid or new_id())


@task_postrun.connect
def _drop_request_id(**_: Any) -> None:
    request_id.set("")
