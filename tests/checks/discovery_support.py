"""Helpers for the add-service tests: post the start form, post a draft form as a browser
would (every field as it is rendered), and serve small FastAPI apps on loopback."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn
from django.test import Client
from django.urls import reverse

from checks.engine.draft import Draft
from checks.forms import DraftForm, job_details
from checks.models import DiscoveryJob
from portal.models import ChecklistTemplate
from tests.conftest import PASSWORD


def signed_in(username: str) -> Client:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return client


def start(client: Client, team: Any, base_url: str, **extra: str) -> Any:
    data = {
        "name": "Items API",
        "slug": "items-api",
        "team": str(team.pk),
        "tier": "2",
        "lifecycle": "staging",
        "base_url": base_url,
        "openapi_url": "",
        "username": "",
        "password": "",
        "otp_secret": "",
        **extra,
    }
    template = ChecklistTemplate.objects.order_by("-version").first()
    data.setdefault("template", str(template.pk) if template else "")
    return client.post(reverse("checks:add-service"), data)


def draft_post(job: DiscoveryJob, user: Any, **overrides: str) -> dict[str, str]:
    """The draft form's fields with the values a browser would send untouched."""
    job.refresh_from_db()
    form = DraftForm(draft=Draft.from_data(job.draft), user=user, initial=job_details(job))
    data: dict[str, str] = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else str(value)
    data.update(overrides)
    return data


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()
