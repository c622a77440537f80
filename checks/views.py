"""Validation pages: start a run, watch it live, history, re-run one check, the profile."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from checks import selectors
from checks.engine import ProfileError
from checks.forms import ProfileForm, RunForm
from checks.models import ValidationRun
from checks.services import profiles, runs
from checks.services.profiles import SECRET_FIELDS
from checks.services.schedules import BadCron
from core.errors import DomainError, NotAllowed, refused
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


@require_GET
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(
        ValidationRun.objects.select_related("service", "triggered_by"), pk=run_id
    )
    context = {
        "run": run,
        "results": selectors.run_results(run),
        "can_edit": can_edit_service(request.user, run.service),
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
