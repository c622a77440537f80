"""Adding a service from its staging URL: the lead's request, discovery on the worker, the
draft, and the save that creates the service with its staging profile in one transaction.

Views and tasks call these. Discovery itself is ``checks.engine.discover`` (no Django),
through the guarded client under the deployment's outbound policy. The probe's secrets are
encrypted at rest (checks.secrets) from the request on, and whatever discovery reports (the
draft, the reason it failed) passes the run scrubber (checks.engine.scrub) before it is
stored: a service that echoes the login body cannot put the password into the job's row.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from checks import secrets
from checks.engine import DestinationRefused, LoginFailed, ProfileError, shared_client
from checks.engine.discover import (
    Credentials,
    DiscoveryFailed,
    LoginNotConfirmed,
    blank_draft,
    discover,
)
from checks.engine.draft import Draft
from checks.engine.scrub import Scrubber
from checks.models import DiscoveryJob
from checks.secrets import SecretUnreadable
from checks.selectors import can_add_service_to, outbound_policy
from checks.services import profiles
from core.broker import enqueue, held_messages
from core.errors import Conflict, InvalidInput, NotAllowed
from portal import services as portal_services
from portal.models import ChecklistTemplate, Service, Team

log = logging.getLogger(__name__)

Status, Reason = DiscoveryJob.Status, DiscoveryJob.Reason
# The variables discovery's login reads the probe's secrets from (never written anywhere).
_PASSWORD_ENV = "PREFLIGHT_DISCOVERY_PASSWORD"
_OTP_ENV = "PREFLIGHT_DISCOVERY_OTP_SECRET"
# In the portal, secrets are write-only fields, never *_env names in the TOML.
SECRET_REFERENCES = ("password_env", "token_env", "client_secret_env", "otp_secret_env")
# The one secret the lead gives ("password") is the profile secret the login style reads.
SECRET_FOR_STYLE = {"static": "auth_token", "client_credentials": "client_secret"}
# Sources written by the CLI's flags, as the portal's form says them.
_SOURCES = {
    "--username": "the probe username you gave",
    "--base-url": "the staging URL you gave",
}


@dataclass(frozen=True)
class ServiceDetails:
    """What the portal records about the service itself (portal.services.service_create)."""

    name: str
    slug: str
    team: Team
    template: ChecklistTemplate
    tier: int
    lifecycle: str


def _check_url(url: str, what: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(f"The {what} must be an http:// or https:// URL.")
    return url


def _check_details(actor: Any, details: ServiceDetails) -> None:
    if not can_add_service_to(actor, details.team):
        raise NotAllowed("Only members of a team add services to it.")
    if Service.objects.filter(slug=details.slug).exists():
        raise Conflict(f"A service with the slug {details.slug!r} exists already.")


def discovery_request(
    *,
    actor: Any,
    details: ServiceDetails,
    base_url: str,
    openapi_url: str = "",
    username: str = "",
    password: str = "",
    otp_secret: str = "",
) -> DiscoveryJob:
    """Record the request (secrets encrypted) and enqueue discovery once it commits."""
    _check_details(actor, details)
    base_url = _check_url(base_url, "staging URL")
    openapi_url = _check_url(openapi_url, "OpenAPI URL") if openapi_url.strip() else ""
    stored = {
        name: secrets.encrypt(value)
        for name, value in (("password", password), ("otp_secret", otp_secret))
        if value
    }
    with transaction.atomic():
        job = DiscoveryJob.objects.create(
            team=details.team,
            template=details.template,
            name=details.name,
            slug=details.slug,
            tier=details.tier,
            lifecycle=details.lifecycle,
            base_url=base_url,
            openapi_url=openapi_url,
            username=username.strip(),
            secrets=stored,
            created_by=actor,
        )
        transaction.on_commit(lambda: dispatch(job.pk))
    return job


def dispatch(job_id: int) -> bool:
    """Hand the job to the broker; if it is down the job stays queued for the sweeper. The
    task is named, not imported: checks.tasks imports this module."""
    DiscoveryJob.objects.filter(pk=job_id).update(
        dispatched_at=timezone.now(), dispatch_attempts=F("dispatch_attempts") + 1
    )
    return enqueue("checks.tasks.discover_service", job_id)


def _claim(job_id: int) -> DiscoveryJob | None:
    """queued -> running. A re-delivered message for a running job runs it again; a
    finished job (or a missing one) is left alone."""
    DiscoveryJob.objects.filter(pk=job_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), stage="starting"
    )
    job = DiscoveryJob.objects.filter(pk=job_id).first()
    if job is None or job.status != Status.RUNNING:
        return None
    return job


def _secret(job: DiscoveryJob, name: str) -> str | None:
    token = job.secrets.get(name)
    return secrets.decrypt(token) if token else None


def execute(job_id: int) -> DiscoveryJob | None:
    """Run discovery for a queued (or re-delivered running) job and store what it found."""
    job = _claim(job_id)
    if job is None:
        return None
    try:
        password, otp_secret = _secret(job, "password"), _secret(job, "otp_secret")
    except SecretUnreadable as exc:
        return _finish(job, Status.FAILED, Reason.ERROR, f"the probe's secrets: {exc}")
    scrubber = Scrubber([password, otp_secret])
    credentials = Credentials(
        username=job.username or None,
        password=password,
        password_env=_PASSWORD_ENV if password else None,
        otp_secret=otp_secret,
        otp_secret_env=_OTP_ENV if otp_secret else None,
    )

    def progress(stage: str) -> None:
        DiscoveryJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(stage=stage)

    try:
        draft = discover(
            shared_client(outbound_policy()),
            job.base_url,
            openapi_url=job.openapi_url or None,
            credentials=credentials,
            progress=progress,
        )
    except DiscoveryFailed as exc:
        message = str(exc).removesuffix("; pass --openapi-url")
        return _finish(job, Status.FAILED, exc.reason, scrubber.text(message))
    except LoginNotConfirmed as exc:
        portal = portal_draft(exc.draft, job) if exc.draft is not None else None
        return _finish(
            job,
            Status.FAILED,
            Reason.LOGIN_FAILED,
            scrubber.text(exc.why + _login_answer(exc.__cause__)),
            scrubber.data(portal.to_data()) if portal else {},
        )
    except DestinationRefused as exc:  # a login or token URL outside the allowlist
        return _finish(job, Status.FAILED, Reason.REFUSED, scrubber.text(str(exc)))
    except Exception as exc:  # a bug or a document discovery cannot read: say so, keep going
        log.warning("discovery #%s failed", job.pk, exc_info=True)
        return _finish(
            job, Status.FAILED, Reason.ERROR, scrubber.text(f"{type(exc).__name__}: {exc}")
        )
    return _finish(job, Status.DRAFTED, "", "", scrubber.data(portal_draft(draft, job).to_data()))


def _login_answer(cause: BaseException | None) -> str:
    """What the failed login answered (a 422 names the field the body lacks). Services echo
    the login body in such answers, which is why the caller scrubs the message."""
    answer = cause.evidence.get("response") if isinstance(cause, LoginFailed) else None
    if not isinstance(answer, dict) or not answer.get("body"):
        return ""
    return f". It answered: {answer['body']}"


def _finish(
    job: DiscoveryJob, status: str, reason: str, message: str, draft: dict[str, Any] | None = None
) -> DiscoveryJob:
    """running -> drafted | failed, once (a second worker's finish changes nothing)."""
    DiscoveryJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(
        status=status,
        reason=reason,
        message=message[:4000],
        draft=draft or {},
        stage="",
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def portal_draft(draft: Draft, job: DiscoveryJob) -> Draft:
    """The draft as the portal shows it: the probe's secrets are write-only fields, not
    ``*_env`` names; the profile is named by the service's slug; the CLI's flags are said
    in words."""
    auth = draft.sections.get("auth")
    if auth is not None:
        auth.entries = [e for e in auth.entries if e.key not in SECRET_REFERENCES]
    service = draft.section("service")
    service.set("name", job.slug, "the service's slug in Preflight")
    service.entries.sort(key=lambda e: e.key != "name")
    draft.sections = {"service": service, **draft.sections}  # first, as in any profile
    for section in draft.sections.values():
        for entry in section.entries:
            entry.source = _SOURCES.get(entry.source, entry.source)
    return draft


def _check_editor(actor: Any, job: DiscoveryJob) -> None:
    if not can_add_service_to(actor, job.team):
        raise NotAllowed("Only members of the team that asked for this service may change it.")


def retry(
    *,
    job: DiscoveryJob,
    actor: Any,
    base_url: str | None = None,
    openapi_url: str | None = None,
    username: str | None = None,
    password: str = "",
    otp_secret: str = "",
) -> DiscoveryJob:
    """drafted | failed -> queued: discover again, with a corrected URL or credentials if
    given (a blank secret keeps the stored one)."""
    _check_editor(actor, job)
    changes: dict[str, Any] = {
        "status": Status.QUEUED,
        "reason": "",
        "message": "",
        "stage": "",
        "draft": {},
        "dispatch_attempts": 0,
        "dispatched_at": None,
        "started_at": None,
        "finished_at": None,
    }
    if base_url is not None:
        changes["base_url"] = _check_url(base_url, "staging URL")
    if openapi_url is not None:
        changes["openapi_url"] = _check_url(openapi_url, "OpenAPI URL") if openapi_url else ""
    if username is not None:
        changes["username"] = username.strip()
    stored = dict(job.secrets)
    for name, value in (("password", password), ("otp_secret", otp_secret)):
        if value:
            stored[name] = secrets.encrypt(value)
    changes["secrets"] = stored
    with transaction.atomic():
        moved = DiscoveryJob.objects.filter(pk=job.pk, status__in=DiscoveryJob.OPEN).update(
            **changes
        )
        if not moved:
            raise Conflict(f"This discovery is {job.get_status_display().lower()}: not retried.")
        transaction.on_commit(lambda: dispatch(job.pk))
    job.refresh_from_db()
    return job


def use_blank(*, job: DiscoveryJob, actor: Any) -> DiscoveryJob:
    """drafted | failed -> drafted with a blank profile to fill in by hand."""
    _check_editor(actor, job)
    draft = blank_draft(job.base_url, job.slug, username=job.username or None)
    if job.status == Status.FAILED and job.message:
        draft.notes.append(f"discovery failed ({job.get_reason_display()}): {job.message}")
    moved = DiscoveryJob.objects.filter(pk=job.pk, status__in=DiscoveryJob.OPEN).update(
        status=Status.DRAFTED,
        reason="",
        draft=portal_draft(draft, job).to_data(),
        finished_at=timezone.now(),
    )
    if not moved:
        raise Conflict(f"This discovery is {job.get_status_display().lower()}: left as it is.")
    job.refresh_from_db()
    return job


def _style(toml: str) -> str:
    try:
        auth = tomllib.loads(toml).get("auth", {})
    except tomllib.TOMLDecodeError:
        return "json"  # profile_save names the TOML error
    style = auth.get("style", "json") if isinstance(auth, dict) else "json"
    return str(style)


def _base_url(toml: str, default: str) -> str:
    try:
        service = tomllib.loads(toml).get("service", {})
    except tomllib.TOMLDecodeError:
        return default
    value = service.get("base_url") if isinstance(service, dict) else None
    return value if isinstance(value, str) and value else default


def discovery_save(
    *,
    job: DiscoveryJob,
    actor: Any,
    details: ServiceDetails,
    toml: str,
    password: str = "",
    otp_secret: str = "",
) -> Service:
    """Create the service, its staging profile (``toml``) and its secrets in one
    transaction; both are audited (service_created, profile_changed, naming no secret).
    Refused input (ProfileError naming the field, DomainError) leaves nothing written.
    A blank secret field keeps the one given when discovery was asked for."""
    _check_editor(actor, job)
    if job.status not in DiscoveryJob.OPEN or not job.draft:
        raise Conflict(
            "There is no draft to save: retry discovery or start from a blank profile."
            if job.status == Status.FAILED
            else f"This discovery is {job.get_status_display().lower()}: nothing to save."
        )
    password = password or _secret(job, "password") or ""
    otp_secret = otp_secret or _secret(job, "otp_secret") or ""
    new_secrets = {SECRET_FOR_STYLE.get(_style(toml), "password"): password}
    if otp_secret:
        new_secrets["otp_secret"] = otp_secret
    staging_base_url = _base_url(toml, job.base_url)
    if len(staging_base_url) > 200:  # the portal's Service.staging_base_url holds 200
        raise ProfileError("service.base_url", "is longer than 200 characters")
    try:
        with transaction.atomic():
            _check_details(actor, details)
            service = portal_services.service_create(
                name=details.name,
                slug=details.slug,
                team=details.team,
                template=details.template,
                tier=details.tier,
                lifecycle=details.lifecycle,
                staging_base_url=staging_base_url,
                actor=actor,
            )
            profiles.profile_save(
                service=service, toml=toml, new_secrets=new_secrets, clear=[], actor=actor
            )
            moved = DiscoveryJob.objects.filter(pk=job.pk, status__in=DiscoveryJob.OPEN).update(
                status=Status.SAVED, service=service, secrets={}, finished_at=timezone.now()
            )
            if not moved:
                raise Conflict("This draft was saved or changed meanwhile: nothing was written.")
    except IntegrityError:  # the slug was taken between the check and the insert
        raise Conflict(f"A service with the slug {details.slug!r} exists already.") from None
    job.refresh_from_db()
    return service


def _queues() -> list[str]:
    route = settings.CELERY_TASK_ROUTES.get("checks.tasks.discover_service", {})
    return [route.get("queue", settings.CELERY_TASK_DEFAULT_QUEUE)]


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Fail jobs stuck past the deadline, re-dispatch queued jobs whose message was lost
    (giving up after too many attempts), and expire drafts left unsaved past the keep
    window, dropping their secrets."""
    now = now or timezone.now()
    stuck = DiscoveryJob.objects.filter(
        status=Status.RUNNING,
        started_at__lt=now - timedelta(seconds=settings.PREFLIGHT_DISCOVERY_DEADLINE_S),
    ).update(
        status=Status.FAILED,
        reason=Reason.STUCK,
        message=f"no result within {settings.PREFLIGHT_DISCOVERY_DEADLINE_S} s (worker lost?)",
        stage="",
        finished_at=now,
    )
    retry_before = now - timedelta(seconds=settings.PREFLIGHT_DISPATCH_RETRY_S)
    waiting = DiscoveryJob.objects.filter(status=Status.QUEUED).filter(
        Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=retry_before)
    )
    # A job whose message the broker still holds (behind a backlog, or in a worker's hands)
    # is neither sent twice nor given up: it will run.
    held = held_messages("checks.tasks.discover_service", _queues())
    if held is not None:
        waiting = waiting.exclude(pk__in=[args[0] for args in held.queued | held.taken])
    given_up = waiting.filter(
        dispatch_attempts__gte=settings.PREFLIGHT_DISPATCH_MAX_ATTEMPTS
    ).update(
        status=Status.FAILED,
        reason=Reason.NOT_STARTED,
        message="never started: the broker did not accept it",
        finished_at=now,
    )
    redispatched = 0
    for job_id in waiting.values_list("pk", flat=True):
        dispatch(job_id)
        redispatched += 1
    expired = DiscoveryJob.objects.filter(
        status__in=DiscoveryJob.OPEN,
        finished_at__lt=now - timedelta(hours=settings.PREFLIGHT_DISCOVERY_KEEP_H),
    ).update(status=Status.EXPIRED, secrets={})
    return {"stuck": stuck, "given_up": given_up, "redispatched": redispatched, "expired": expired}
