"""Fixtures for launch reviews and the API: reviewers inside and outside the owning team,
a service made launch-ready, API tokens, a local HTTP receiver for webhooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from api import services
from checks.catalog import REGISTRY
from checks.engine.outcome import Outcome, Status
from checks.models import CheckResult, ValidationRun
from portal.models import ItemState, Membership, Service, Team
from portal.permissions import REVIEWERS_GROUP
from tests.conftest import PASSWORD


def _reviewer(username: str, team: Team | None) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.com"
    )
    user.groups.add(Group.objects.get_or_create(name=REVIEWERS_GROUP)[0])
    if team is not None:
        Membership.objects.create(user=user, team=team)
    return user


@pytest.fixture
def team_reviewer(team: Team) -> User:
    """A reviewer who is also a member of payments (the service's own team)."""
    return _reviewer("team-reviewer", team)


@pytest.fixture
def search_reviewers(other_team: Team) -> tuple[User, User]:
    """Two reviewers of another team (search)."""
    return _reviewer("rev-a", other_team), _reviewer("rev-b", other_team)


def make_ready(service: Service, *, run_age: timedelta = timedelta(hours=1)) -> ValidationRun:
    """Every item done (fresh) and a passed full run in which every registered check passed
    (drills included): the gate holds. Test setup, so it writes rows directly instead of
    ticking 39 items and running 34 checks through the service layer."""
    now = timezone.now()
    ItemState.objects.filter(service=service).update(
        state=ItemState.State.DONE, verified_at=now, expires_at=now + timedelta(days=30)
    )
    keys = list(REGISTRY)
    run = ValidationRun.objects.create(
        service=service,
        status=ValidationRun.Status.PASSED,
        keys=keys,
        complete_selection=True,
        pass_count=len(keys),
    )
    ValidationRun.objects.filter(pk=run.pk).update(
        created_at=now - run_age, finished_at=now - run_age
    )
    CheckResult.objects.bulk_create(
        CheckResult(run=run, key=key, status="pass", summary="ok") for key in keys
    )
    CheckResult.objects.filter(run=run).update(created_at=now - run_age)
    run.refresh_from_db()
    return run


def record_run(
    service: Service,
    results: dict[str, str | tuple[str, dict[str, Any]]],
    *,
    full: bool = False,
    trigger: str = ValidationRun.Trigger.MANUAL,
) -> ValidationRun:
    """A finished run with these results (status, or (status, evidence)), recorded the way
    the worker records them (counters, then _finish: items fed, run_finished sent)."""
    from checks.services import runs

    run = ValidationRun.objects.create(
        service=service,
        status=ValidationRun.Status.RUNNING,
        trigger=trigger,
        keys=list(results) if not full else list(REGISTRY),
        complete_selection=full,
        started_at=timezone.now(),
    )
    for key, value in results.items():
        status, evidence = value if isinstance(value, tuple) else (value, {})
        runs._store(run, Outcome(key, Status(status), f"{key}: {status}", evidence, 5))
    return runs._finish(run)


@pytest.fixture
def ready_service(service: Service) -> Service:
    make_ready(service)
    return service


@pytest.fixture
def api_token(db: None) -> Callable[..., str]:
    """Create a token with the given scopes; returns the secret."""

    def create(*scopes: str, name: str = "", team: Team | None = None) -> str:
        label = name or "ci-" + "-".join(s.replace(":", "_") for s in scopes) or "ci-none"
        return services.token_create(name=label, scopes=list(scopes), team=team).secret

    return create


@dataclass
class Receiver:
    """A real HTTP server on loopback that records POSTs and answers from a script."""

    url: str
    answers: list[int] = field(default_factory=list)  # statuses to answer, then 200
    received: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.received.append(json.loads(body))
            status = state.answers.pop(0) if state.answers else 200
            state.statuses.append(status)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()
