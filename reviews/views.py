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
from reviews.forms import DecisionForm, ExemptionRequestForm, LaunchRequestForm
from reviews.models import Exemption, LaunchReview
from reviews.permissions import (
    can_decide,
    can_request,
    can_withdraw,
    decide_refusal,
    exemption_refusal,
)


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
    status = selectors.launch_status(service)
    return render(
        request,
        "reviews/service_launch.html",
        {
            "service": service,
            "gate": status.gate,
            "status": status,
            "to_justify": selectors.rules_to_justify(service, status.gate),
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


@require_POST
def item_exemption_request(request: HttpRequest, slug: str, item_key: str) -> HttpResponse:
    service = get_object_or_404(Service.objects.select_related("team", "template"), slug=slug)
    back = reverse("portal:service-detail", args=[slug])
    form = ExemptionRequestForm(request.POST)
    if not form.is_valid():
        fields = ", ".join(sorted(form.errors))
        return refused(
            request,
            InvalidInput(f"An exemption needs a reason and an expiry date ({fields})."),
            back,
        )
    try:
        exemption = services.exemption_request(
            service=service,
            item_key=item_key,
            actor=request.user,
            justification=form.cleaned_data["justification"],
            expires=form.cleaned_data["expires"],
        )
    except DomainError as error:
        return refused(request, error, back)
    messages.success(
        request, f"Exemption #{exemption.pk} for {item_key} requested: a reviewer decides it."
    )
    return redirect(back)


@require_GET
def exemption_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "requested")
    if status not in Exemption.Status.values:
        status = ""
    return render(
        request,
        "reviews/exemption_list.html",
        {
            "exemptions": selectors.exemption_list(status=status)[:200],
            "status": status,
            "statuses": Exemption.Status.choices,
        },
    )


@require_GET
def exemption_detail(request: HttpRequest, pk: int) -> HttpResponse:
    exemption = get_object_or_404(
        Exemption.objects.select_related("service__team", "requested_by", "decided_by", "review"),
        pk=pk,
    )
    refusal = exemption_refusal(request.user, exemption)
    return render(
        request,
        "reviews/exemption_detail.html",
        {
            "exemption": exemption,
            "service": exemption.service,
            "decidable": exemption.review_id is None
            and exemption.status == Exemption.Status.REQUESTED,
            "can_decide": refusal is None,
            "decide_refusal": refusal,
        },
    )


EXEMPTION_ACTIONS = {
    "approve": lambda exemption, user, reason: services.exemption_approve(
        exemption=exemption, actor=user, note=reason
    ),
    "reject": lambda exemption, user, reason: services.exemption_reject(
        exemption=exemption, actor=user, reason=reason
    ),
}


@require_POST
def exemption_decide(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    exemption = get_object_or_404(Exemption.objects.select_related("service__team"), pk=pk)
    back = reverse("reviews:exemption-detail", args=[pk])
    form = DecisionForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    if action not in EXEMPTION_ACTIONS:
        return refused(request, InvalidInput(f"Unknown action {action!r}."), back)
    try:
        exemption = EXEMPTION_ACTIONS[action](exemption, request.user, reason)
    except DomainError as error:
        return refused(request, error, back)
    messages.success(
        request, f"Exemption #{exemption.pk}: {exemption.get_status_display().lower()}."
    )
    return redirect(back)
