"""Launch pages: the gate and request form of a service, the list of launches, a review with
its decision history, and the approve / reject / withdraw actions (plain POST forms)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import DomainError, InvalidInput, refused
from portal.models import Service
from reviews import selectors, services
from reviews.forms import DecisionForm, LaunchRequestForm
from reviews.gate import compute_gate
from reviews.models import LaunchReview
from reviews.permissions import can_decide, can_request, can_withdraw, decide_refusal


@require_http_methods(["GET", "POST"])
def service_launch(request: HttpRequest, slug: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)
    form = LaunchRequestForm(request.POST or None)
    if request.method == "POST":
        back = reverse("reviews:service-launch", args=[slug])
        if not form.is_valid():
            fields = ", ".join(sorted(form.errors))
            return refused(request, InvalidInput(f"Invalid form field(s): {fields}."), back)
        data = form.cleaned_data
        try:
            review = services.launch_request(
                service=service,
                actor=request.user,
                target_date=data["target_date"],
                notes=data["notes"],
                justifications=form.justifications(),
                exemption_expires=data["exemption_expires"],
            )
        except DomainError as error:
            return refused(request, error, back)
        messages.success(request, f"Launch #{review.pk} requested.")
        return redirect("reviews:review-detail", review.pk)
    return render(
        request,
        "reviews/service_launch.html",
        {
            "service": service,
            "gate": compute_gate(service),
            "status": selectors.launch_status(service),
            "reviews": service.launch_reviews.select_related("requested_by")[:20],
            "can_request": can_request(request.user, service),
            "form": form,
        },
    )


@require_GET
def review_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    if status not in LaunchReview.Status.values:
        status = ""
    return render(
        request,
        "reviews/review_list.html",
        {
            "reviews": selectors.review_list(status=status)[:200],
            "status": status,
            "statuses": LaunchReview.Status.choices,
        },
    )


@require_GET
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(
        LaunchReview.objects.select_related("service__team", "requested_by"), pk=pk
    )
    return render(
        request,
        "reviews/review_detail.html",
        {
            "review": review,
            "service": review.service,
            "can_decide": can_decide(request.user, review),
            "decide_refusal": decide_refusal(request.user, review),
            "can_withdraw": can_withdraw(request.user, review),
            "in_flight": review.status == LaunchReview.Status.REQUESTED,
            **selectors.review_page(review),
        },
    )


ACTIONS = {
    "approve": lambda review, user, reason: services.launch_approve(
        review=review, actor=user, note=reason
    ),
    "reject": lambda review, user, reason: services.launch_reject(
        review=review, actor=user, reason=reason
    ),
    "withdraw": lambda review, user, reason: services.launch_withdraw(
        review=review, actor=user, reason=reason
    ),
}


@require_POST
def review_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    review = get_object_or_404(LaunchReview.objects.select_related("service__team"), pk=pk)
    back = reverse("reviews:review-detail", args=[pk])
    form = DecisionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if action not in ACTIONS:
        return refused(request, InvalidInput(f"Unknown action {action!r}."), back)
    try:
        review = ACTIONS[action](review, request.user, reason)
    except DomainError as error:
        return refused(request, error, back)
    messages.success(request, f"Launch #{review.pk}: {review.get_status_display().lower()}.")
    return redirect(back)
