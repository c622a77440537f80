"""Validation pages: start a run, watch it live, history, re-run one check, the profile and
its reference; adding a service from its staging URL (discovery, then its draft)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checks import reference, selectors
from checks.engine import ProfileError
from checks.engine.draft import Draft
from checks.forms import (
    AddServiceForm,
    DiscoveryTargetForm,
    DraftForm,
    ProfileForm,
    RunForm,
    job_details,
)
from checks.models import DiscoveryJob, ValidationRun
from checks.services import discoveries, profiles, runs
from checks.services.profiles import SECRET_FIELDS
from checks.services.schedules import BadCron
from core.errors import Conflict, DomainError, InvalidInput, NotAllowed, refused
from core.htmx import STOP_POLLING, is_partial
from portal.models import Service
from portal.permissions import can_edit_service


@require_POST
def run_start(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    form = RunForm(request.POST)
    steps = form.cleaned_data["steps"] if form.is_valid() else []
    try:
        run = runs.run_request(service=service, actor=request.user, steps=steps)
    except DomainError as error:
        return refused(request, error, reverse("portal:service-detail", args=[slug]))
    return redirect("checks:run-detail", run.pk)


# A running run's page asks for news this often: each result shows within a quarter of a
# second of being stored. Asking is cheap: the answer is 204 (one row read, nothing
# rendered) unless the run moved since the mark the page sent (``seen``).
RUN_POLL_MS = 250
NOTHING_NEW = 204


@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(
        ValidationRun.objects.select_related("service", "triggered_by"), pk=run_id
    )
    progress = selectors.run_progress(run)
    if is_partial(request) and request.GET.get("seen") == progress:
        return HttpResponse(status=NOTHING_NEW)  # htmx swaps nothing and keeps polling
    results = selectors.run_results(run)
    context = {
        "run": run,
        "results": results,
        "groups": selectors.run_groups(run, results),
        "can_edit": can_edit_service(request.user, run.service),
        "progress": progress,
        "poll_ms": RUN_POLL_MS,
    }
    if is_partial(request):
        status = STOP_POLLING if run.finished else 200
        return render(request, "checks/htmx/run_live.html", context, status=status)
    context["load_curve"] = selectors.run_load_curve(run)
    return render(request, "checks/run_detail.html", context)


@require_GET
def run_history(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    return render(
        request,
        "checks/run_history.html",
        {"service": service, "runs": selectors.run_history(service)},
    )


@require_POST
def rerun_check(request: HttpRequest, run_id: int, key: str) -> HttpResponse:
    run = get_object_or_404(ValidationRun, pk=run_id)
    try:
        new = runs.rerun_check(run=run, key=key, actor=request.user)
    except DomainError as error:
        return refused(request, error, reverse("checks:run-detail", args=[run_id]))
    return redirect("checks:run-detail", new.pk)


# The submitted secrets never appear in an error report or the DEBUG page: not as POST
# fields, and not as local variables of this view or anything it calls (core.debug).
@sensitive_variables()
@sensitive_post_parameters(*SECRET_FIELDS)
@require_http_methods(["GET", "POST"])
def profile_edit(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service, slug=slug)
    current = selectors.profile_of(service)
    editable = can_edit_service(request.user, service)
    if request.method == "POST":
        if not editable:
            return refused(
                request,
                NotAllowed("Only members of the owning team change the staging profile."),
                reverse("portal:service-detail", args=[slug]),
            )
        form = ProfileForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                profiles.profile_save(
                    service=service,
                    toml=data["toml"],
                    new_secrets={
                        "password": data["password"],
                        "otp_secret": data["otp_secret"],
                        "auth_token": data["auth_token"],
                        "client_secret": data["client_secret"],
                        "repo_token": data["repo_token"],
                        "mongo_uri": data["mongo_uri"],
                        "hooks_token": data["hooks_token"],
                    },
                    clear=data["clear"],
                    schedule_enabled=data["schedule_enabled"],
                    schedule_cron=data["schedule_cron"],
                    actor=request.user,
                )
            except BadCron as exc:
                form.add_error("schedule_cron", str(exc))
            except ProfileError as exc:
                form.add_error("toml", str(exc))
            else:
                messages.success(request, "Staging profile saved.")
                return redirect("checks:profile", slug)
        status = 400
    else:
        form = ProfileForm(
            initial={
                "toml": current.toml if current else profiles.default_toml(service),
                "schedule_enabled": current.schedule_enabled if current else True,
                "schedule_cron": current.schedule_cron if current else "0 2 * * *",
            }
        )
        status = 200
    return render(
        request,
        "checks/profile.html",
        {
            "service": service,
            "form": form,
            "profile": current,
            "editable": editable,
            "stored_secrets": current.secret_names if current else [],
        },
        status=status,
    )


# --- adding a service from its staging URL ---------------------------------------------------


# The probe's secrets a lead types when adding a service: kept out of error reports like the
# profile's (see profile_edit).
PROBE_SECRETS = ("password", "otp_secret")


def _refuse_outside_team(request: HttpRequest) -> HttpResponse:
    return refused(
        request,
        NotAllowed("Only team leads add services: you are not a member of any team."),
        reverse("portal:service-list"),
    )


@sensitive_variables()
@sensitive_post_parameters(*PROBE_SECRETS)
@require_http_methods(["GET", "POST"])
def add_service(request: HttpRequest) -> HttpResponse:
    if not selectors.teams_for_new_service(request.user).exists():
        return _refuse_outside_team(request)
    if not selectors.newest_templates():
        return refused(
            request,
            InvalidInput("No checklist template is imported yet (manage.py import_template)."),
            reverse("portal:service-list"),
        )
    form = AddServiceForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            job = discoveries.discovery_request(
                actor=request.user,
                details=form.details(),
                base_url=data["base_url"],
                openapi_url=data["openapi_url"],
                username=data["username"],
                password=data["password"],
                otp_secret=data["otp_secret"],
            )
        except DomainError as error:
            return refused(request, error, reverse("checks:add-service"))
        return redirect("checks:discovery", job.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "checks/add_service.html", {"form": form}, status=status)


def _job_for(request: HttpRequest, job_id: int) -> DiscoveryJob | HttpResponse:
    job = selectors.discovery_of(job_id)
    if job is None:
        raise Http404("no such discovery")
    if not selectors.can_add_service_to(request.user, job.team):
        return refused(
            request,
            NotAllowed("Only members of the team that asked for this service see its draft."),
            reverse("portal:service-list"),
        )
    return job


def _discovery_page(
    request: HttpRequest,
    job: DiscoveryJob,
    *,
    form: DraftForm | None = None,
    retry_form: DiscoveryTargetForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The page (or, for htmx's polling, its live part: 286 once discovery is over)."""
    if form is None and job.draft and job.status in DiscoveryJob.OPEN:
        form = DraftForm(
            draft=Draft.from_data(job.draft), user=request.user, initial=job_details(job)
        )
    if retry_form is None:
        retry_form = DiscoveryTargetForm(
            initial={
                "base_url": job.base_url,
                "openapi_url": job.openapi_url,
                "username": job.username,
            }
        )
    context = {
        "job": job,
        "form": form,
        "retry_form": retry_form,
        "stored_secrets": sorted(job.secrets),
    }
    if is_partial(request) and request.method == "GET":
        live = STOP_POLLING if job.finished else 200
        return render(request, "checks/htmx/discovery.html", context, status=live)
    return render(request, "checks/discovery.html", context, status=status)


@sensitive_variables()
@sensitive_post_parameters(*PROBE_SECRETS)
@require_http_methods(["GET", "POST"])
def discovery(request: HttpRequest, job_id: int) -> HttpResponse:
    """The discovery's progress, then its draft as a form (GET); saving it (POST)."""
    job = _job_for(request, job_id)
    if isinstance(job, HttpResponse):
        return job
    if request.method == "GET":
        return _discovery_page(request, job)
    if job.status not in DiscoveryJob.OPEN or not job.draft:
        return refused(
            request,
            Conflict(f"This discovery is {job.get_status_display().lower()}: nothing to save."),
            reverse("checks:discovery", args=[job.pk]),
        )
    form = DraftForm(request.POST, draft=Draft.from_data(job.draft), user=request.user)
    if form.is_valid() and form.cleaned_data["source"] != "preview":
        try:
            service = discoveries.discovery_save(
                job=job,
                actor=request.user,
                details=form.details(),
                toml=form.cleaned_data["toml"],
                **form.secrets(),
            )
        except ProfileError as exc:
            form.add_profile_error(exc)
        except DomainError as error:
            return refused(request, error, reverse("checks:discovery", args=[job.pk]))
        else:
            messages.success(request, f"{service.name} added, with its staging profile.")
            return redirect("portal:service-detail", service.slug)
    preview = form.is_valid()  # only a preview gets here valid
    return _discovery_page(request, job, form=form, status=200 if preview else 400)


@sensitive_variables()
@sensitive_post_parameters(*PROBE_SECRETS)
@require_POST
def discovery_retry(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    if isinstance(job, HttpResponse):
        return job
    form = DiscoveryTargetForm(request.POST)
    if not form.is_valid():
        return _discovery_page(request, job, retry_form=form, status=400)
    data = form.cleaned_data
    try:
        discoveries.retry(
            job=job,
            actor=request.user,
            base_url=data["base_url"],
            openapi_url=data["openapi_url"],
            username=data["username"],
            password=data["password"],
            otp_secret=data["otp_secret"],
        )
    except DomainError as error:
        return refused(request, error, reverse("checks:discovery", args=[job.pk]))
    return redirect("checks:discovery", job.pk)


@require_POST
def discovery_blank(request: HttpRequest, job_id: int) -> HttpResponse:
    job = _job_for(request, job_id)
    if isinstance(job, HttpResponse):
        return job
    try:
        discoveries.use_blank(job=job, actor=request.user)
    except DomainError as error:
        return refused(request, error, reverse("checks:discovery", args=[job.pk]))
    return redirect("checks:discovery", job.pk)


@require_GET
def profile_reference(request: HttpRequest) -> HttpResponse:
    """docs/profile.md, the profile reference, as a page of the portal."""
    try:
        body = reference.profile_reference_html()
    except reference.ReferenceMissing as exc:
        raise Http404(str(exc)) from None
    return render(request, "checks/profile_reference.html", {"body": body})
