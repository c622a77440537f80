"""What the broker still holds, read back for the sweeper: real Redis, and the filesystem
transport `make run` falls back to."""

from __future__ import annotations

import redis

from core.broker import enqueue, held_messages

TASK = "checks.tasks.execute_run"


def test_redis_queued_and_taken_messages_are_told_apart(settings) -> None:
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    client.delete(queue)
    try:
        assert enqueue(TASK, 41) and enqueue(TASK, 42)
        assert enqueue("checks.tasks.discover_service", 43)  # another task: not counted
        held = held_messages(TASK, [queue])
        assert held is not None and held.queued == {(41,), (42,)}
        # (Workers this test process killed earlier may have left their own taken messages.)
        already = held.taken - {(41,)}
        # A worker takes one (kombu moves it to the "unacked" hash until it is acked).
        raw = client.rpop(queue)
        entry = b"[" + raw + b', "", "' + queue.encode() + b'"]'
        client.hset("unacked", "test-tag-" + queue, entry)
        held = held_messages(TASK, [queue])
        assert held is not None and held.queued == {(42,)} and held.taken == already | {(41,)}
        # Taken from another queue of the same Redis database: not ours.
        client.hset("unacked", "test-other-" + queue, b"[" + raw + b', "", "elsewhere"]')
        again = held_messages(TASK, [queue])
        assert again is not None and again.taken == held.taken
    finally:
        client.delete(queue)
        client.hdel("unacked", "test-tag-" + queue, "test-other-" + queue)


def test_the_filesystem_broker_is_read_too_and_an_unknown_one_is_not(settings, tmp_path) -> None:
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path),
        "data_folder_out": str(tmp_path),
        "control_folder": str(tmp_path / "control"),
    }
    assert enqueue(TASK, 7)
    held = held_messages(TASK, [settings.CELERY_TASK_DEFAULT_QUEUE])
    assert held is not None and held.queued == {(7,)} and not held.taken
    assert held_messages(TASK, ["another-queue"]) == type(held)(frozenset(), frozenset())
    settings.CELERY_BROKER_URL = "memory://"
    assert held_messages(TASK, [settings.CELERY_TASK_DEFAULT_QUEUE]) is None
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens: unknown, not empty
    assert held_messages(TASK, [settings.CELERY_TASK_DEFAULT_QUEUE]) is None
