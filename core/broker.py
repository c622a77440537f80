"""Handing a task to the broker from a web request without ever waiting on a dead broker."""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Task, current_app
from django.conf import settings

log = logging.getLogger(__name__)


def enqueue(task: Task | str, *args: Any, countdown: float | None = None) -> bool:
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
            task.apply_async(args=list(args), connection=conn, retry=False, countdown=countdown)
    except Exception as exc:  # kombu raises many kinds; all mean "not enqueued"
        log.warning("%s%r not enqueued (broker unavailable?): %s", task.name, args, exc)
        return False
    return True


def _message_args(raw: bytes | str, task_name: str, queues: list[str]) -> tuple[Any, ...] | None:
    """The args of one serialized kombu message (Celery protocol 2) of ``task_name``."""
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # the unacked hash keeps [message, exchange, key]
            if message[2] not in queues:  # shared by every queue of this Redis database
                return None
            message = message[0]
        if message.get("headers", {}).get("task") != task_name:
            return None
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return tuple(args) if isinstance(args, list) else None


@dataclass(frozen=True)
class Held:
    """The args of the messages of one task the broker holds: waiting in a queue, or taken
    by a worker and not acknowledged yet (Redis' "unacked" set)."""

    queued: frozenset[tuple[Any, ...]]
    taken: frozenset[tuple[Any, ...]]


def held_messages(task_name: str, queues: list[str]) -> Held | None:
    """What the broker still holds of ``task_name`` for ``queues``. None when the broker
    cannot be read (down, or a transport this does not know): the caller must then assume
    a message may still be there.

    The sweeper uses it to tell a lost message from one waiting behind a backlog."""
    url = settings.CELERY_BROKER_URL
    queued: list[bytes | str] = []
    taken: list[bytes | str] = []
    try:
        if url.startswith(("redis://", "rediss://")):
            client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
            try:
                for queue in queues:
                    # kombu keeps priority levels in sibling lists: "q", "q\x06\x163", ...
                    for key in {queue.encode(), *client.scan_iter(match=f"{queue}\x06\x16*")}:
                        queued.extend(client.lrange(key, 0, -1))
                taken.extend(client.hvals("unacked"))
            finally:
                client.close()
        elif url.startswith("filesystem://"):
            folder = Path(str(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"]))
            queued.extend(
                path.read_bytes()
                for path in folder.iterdir()
                if any(path.name.endswith(f".{queue}.msg") for queue in queues)
            )
        else:
            return None
    except (redis.RedisError, OSError) as exc:
        log.warning("cannot read the broker's queues: %s", exc)
        return None

    def args_of(raws: list[bytes | str]) -> frozenset[tuple[Any, ...]]:
        found = (_message_args(raw, task_name, queues) for raw in raws)
        return frozenset(args for args in found if args is not None)

    return Held(queued=args_of(queued), taken=args_of(taken))
