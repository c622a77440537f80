"""Write operations of the portal. Views, tasks, commands and admin call these and nothing
else changes readiness data; each one writes its audit events in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from portal import audit
from portal.models import (
    AuditEvent,
    ChecklistTemplate,
    ItemState,
    RunbookStep,
    Service,
    Team,
    TemplateItem,
    TemplateSection,
)
from portal.permissions import can_edit_service
from portal.signals import send_item_states_changed
from portal.templates_io import TemplateData

User = AbstractBaseUser | AnonymousUser


# --- templates ------------------------------------------------------------------------------


@dataclass
class ImportReport:
    template: ChecklistTemplate
    created: bool
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    services_upgraded: int = 0


@transaction.atomic
def template_import(*, data: TemplateData, upgrade_services: bool = True) -> ImportReport:
    """Import one template version (idempotent: an existing version is left as it is).

    With ``upgrade_services`` every service on an older version of the same template moves
    to this one; item states are kept by key, new items start open, removed keys keep their
    state (history) but leave the checklist. The report lists added and removed keys."""
    existing = ChecklistTemplate.objects.filter(key=data.key, version=data.version).first()
    if existing is not None:
        return ImportReport(template=existing, created=False)
    previous = (
        ChecklistTemplate.objects.filter(key=data.key, version__lt=data.version)
        .order_by("-version")
        .first()
    )
    template = ChecklistTemplate.objects.create(
        key=data.key,
        version=data.version,
        name=data.name,
        description=data.description,
        source=data.source,
    )
    for s_pos, section in enumerate(data.sections):
        sec = TemplateSection.objects.create(
            template=template, key=section.key, title=section.title, position=s_pos
        )
        TemplateItem.objects.bulk_create(
            TemplateItem(
                template=template,
                section=sec,
                key=item.key,
                title=item.title,
                guidance=item.guidance,
                blocking=item.blocking,
                evidence_required=item.evidence_required,
                valid_days=item.valid_days,
                check_keys=item.checks,
                position=i_pos,
            )
            for i_pos, item in enumerate(section.items)
        )
    RunbookStep.objects.bulk_create(
        RunbookStep(
            template=template,
            step=step.step,
            key=step.key,
            title=step.title,
            guidance=step.guidance,
            check_keys=step.checks,
        )
        for step in data.runbook
    )
    report = ImportReport(template=template, created=True)
    if previous is not None:
        old_keys = set(previous.items.values_list("key", flat=True))
        new_keys = set(data.item_keys)
        report.added = sorted(new_keys - old_keys)
        report.removed = sorted(old_keys - new_keys)
        if upgrade_services:
            for service in Service.objects.filter(
                template__key=data.key, template__version__lt=data.version
            ):
                service_upgrade_template(service=service, template=template, report=report)
                report.services_upgraded += 1
    return report


def _sync_item_states(service: Service, template: ChecklistTemplate) -> None:
    items = {item.key: item for item in template.items.all()}
    states = {s.item_key: s for s in service.item_states.all()}
    for key, state in states.items():
        new_item = items.get(key)
        if state.item_id != (new_item.pk if new_item else None):
            state.item = new_item
            state.save(update_fields=["item"])
    ItemState.objects.bulk_create(
        ItemState(service=service, item=item, item_key=key)
        for key, item in items.items()
        if key not in states
    )


def service_upgrade_template(
    *, service: Service, template: ChecklistTemplate, report: ImportReport | None = None
) -> None:
    old = service.template
    service.template = template
    service.save(update_fields=["template"])
    _sync_item_states(service, template)
    audit.record(
        action=AuditEvent.Action.TEMPLATE_UPGRADED,
        actor=None,
        service=service,
        payload={
            "from": str(old),
            "to": str(template),
            "added": report.added if report else [],
            "removed": report.removed if report else [],
        },
    )


# --- services ---------------------------------------------------------------------------------


@transaction.atomic
def service_create(
    *,
    name: str,
    slug: str,
    team: Team,
    template: ChecklistTemplate,
    tier: int = Service.Tier.TIER_2,
    lifecycle: str = Service.Lifecycle.DEVELOPMENT,
    description: str = "",
    repository_url: str = "",
    staging_base_url: str = "",
    actor: User | None = None,
) -> Service:
    service = Service.objects.create(
        name=name,
        slug=slug,
        team=team,
        template=template,
        tier=tier,
        lifecycle=lifecycle,
        description=description,
        repository_url=repository_url,
        staging_base_url=staging_base_url,
    )
    _sync_item_states(service, template)
    audit.record(
        action=AuditEvent.Action.SERVICE_CREATED,
        actor=actor,
        service=service,
        payload={"template": str(template), "tier": tier},
    )
    return service


# --- checklist items ---------------------------------------------------------------------------

ACTIONS = {
    "done": (ItemState.State.DONE, AuditEvent.Action.TICK),
    "na": (ItemState.State.NOT_APPLICABLE, AuditEvent.Action.NOT_APPLICABLE),
    "reopen": (ItemState.State.OPEN, AuditEvent.Action.REOPEN),
}


def _check_evidence_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("The evidence link must be an http:// or https:// URL.")
    if len(url) > 500:
        raise InvalidInput("The evidence link is longer than 500 characters.")
    return url


@transaction.atomic
def item_transition(
    *,
    service: Service,
    item_key: str,
    action: str,
    actor: User,
    seen_version: int,
    note: str = "",
    evidence_url: str = "",
    now: datetime | None = None,
) -> ItemState:
    """Mark an item done, not applicable or reopen it.

    ``seen_version`` is the version the user was looking at: if someone saved the item in
    between, the change is refused (Conflict) and nothing is overwritten."""
    if not can_edit_service(actor, service):
        raise NotAllowed("Only members of the owning team can change this service's checklist.")
    if action not in ACTIONS:
        raise InvalidInput(f"Unknown action {action!r}: use done, na or reopen.")
    state = (
        ItemState.objects.select_related("item")
        .filter(service=service, item_key=item_key, item__template=service.template)
        .first()
    )
    if state is None or state.item is None:
        raise NotFound(f"{service.slug} has no checklist item {item_key!r}.")
    note = note.strip()
    evidence_url = _check_evidence_url(evidence_url)
    to_state, audit_action = ACTIONS[action]
    if action == "na" and not note:
        raise InvalidInput("Marking an item not applicable needs a reason.")
    if action == "done" and state.item.evidence_required and not evidence_url:
        raise InvalidInput("This item needs an evidence link (http or https) to be marked done.")
    now = now or timezone.now()
    expires = now + timedelta(days=state.item.valid_days) if action == "done" else None
    changed = ItemState.objects.filter(pk=state.pk, version=seen_version).update(
        state=to_state,
        note=note,
        evidence_url=evidence_url,
        updated_by=actor if actor.is_authenticated else None,
        updated_at=now,
        verified_at=now if action == "done" else None,
        expires_at=expires,
        version=seen_version + 1,
    )
    if not changed:
        state.refresh_from_db()
        who = state.updated_by.get_username() if state.updated_by else "someone"
        raise Conflict(
            f"{who} changed this item while you were editing it (it is now "
            f"{state.get_state_display().lower()}). Nothing was saved: review and try again."
        )
    audit.record(
        action=audit_action,
        actor=actor,
        service=service,
        item_key=item_key,
        from_state=state.state,
        to_state=to_state,
        note=note,
        evidence_url=evidence_url,
        payload={"version": seen_version + 1},
    )
    state.refresh_from_db()
    send_item_states_changed(service)
    return state


def expire_stale_items(*, now: datetime | None = None) -> int:
    """Move every done item whose validity has run out to ``stale``; one audit event each.
    Safe to run any number of times (already stale items are not touched)."""
    now = now or timezone.now()
    expired = 0
    candidates = ItemState.objects.filter(
        state=ItemState.State.DONE, expires_at__lt=now
    ).select_related("service__team")
    for state in candidates.iterator():
        with transaction.atomic():
            moved = ItemState.objects.filter(
                pk=state.pk, version=state.version, state=ItemState.State.DONE
            ).update(state=ItemState.State.STALE, version=state.version + 1, updated_at=now)
            if not moved:
                continue
            audit.record(
                action=AuditEvent.Action.STALE,
                actor=None,
                service=state.service,
                item_key=state.item_key,
                from_state=ItemState.State.DONE,
                to_state=ItemState.State.STALE,
                payload={"expired_at": state.expires_at.isoformat() if state.expires_at else None},
            )
            # On commit of this block: once per expired item, which is rare (daily task).
            send_item_states_changed(state.service)
            expired += 1
    return expired


def describe(report: ImportReport) -> dict[str, Any]:
    return {
        "template": str(report.template),
        "created": report.created,
        "added": report.added,
        "removed": report.removed,
        "services_upgraded": report.services_upgraded,
    }


@transaction.atomic
def items_from_checks(
    *, service: Service, results: dict[str, str], evidence_url: str, run_label: str
) -> dict[str, int]:
    """Feed a finished run's results into the checklist, by the system user.

    An item whose check keys include a ``fail`` becomes ``failing``; an item all of whose
    check keys passed in this run is verified (``done``, validity restarted). Items marked not
    applicable are left alone, and keys the run did not cover decide nothing."""
    now = timezone.now()
    counts = {"verified": 0, "failing": 0}
    states = (
        ItemState.objects.select_related("item")
        .filter(service=service, item__template_id=service.template_id)
        .exclude(state=ItemState.State.NOT_APPLICABLE)
    )
    for state in states:
        assert state.item is not None
        keys = [k for k in state.item.check_keys if k in results]
        if not keys:
            continue
        if any(results[k] == "fail" for k in keys):
            passed = False
            note = f"{run_label}: {', '.join(k for k in keys if results[k] == 'fail')} failed"
        elif len(keys) == len(state.item.check_keys) and all(results[k] == "pass" for k in keys):
            passed = True
            note = f"{run_label}: {', '.join(keys)} passed"
        else:
            continue
        _apply_verdict(
            service=service,
            state=state,
            passed=passed,
            note=note,
            evidence_url=evidence_url,
            payload={"checks": {k: results[k] for k in keys}},
            now=now,
        )
        counts["verified" if passed else "failing"] += 1
    send_item_states_changed(service)
    return counts


@transaction.atomic
def items_from_external(
    *,
    service: Service,
    verdicts: dict[str, tuple[bool, str]],
    evidence_url: str,
    source: str,
    payload: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Verify or fail items by key from a source outside the check engine (facts pushed by
    CI), by the system user, with the same effect as a check result: a pass verifies the item
    (validity restarted), a fail makes it ``failing``. ``verdicts`` maps item key to
    (passed, note). Items marked not applicable and keys not on the service's current
    template are left alone."""
    now = timezone.now()
    counts = {"verified": 0, "failing": 0}
    states = (
        ItemState.objects.select_related("item")
        .filter(service=service, item__template_id=service.template_id, item_key__in=verdicts)
        .exclude(state=ItemState.State.NOT_APPLICABLE)
    )
    for state in states:
        passed, note = verdicts[state.item_key]
        _apply_verdict(
            service=service,
            state=state,
            passed=passed,
            note=f"{source}: {note}",
            evidence_url=evidence_url,
            payload={"source": source, **(payload or {})},
            now=now,
        )
        counts["verified" if passed else "failing"] += 1
    send_item_states_changed(service)
    return counts


def _apply_verdict(
    *,
    service: Service,
    state: ItemState,
    passed: bool,
    note: str,
    evidence_url: str,
    payload: dict[str, Any],
    now: datetime,
) -> None:
    """An automated verdict on one item: verified (done, validity restarted) or failing."""
    assert state.item is not None
    if passed:
        to_state, action = ItemState.State.DONE, AuditEvent.Action.VERIFIED
    else:
        to_state, action = ItemState.State.FAILING, AuditEvent.Action.FAILED
    ItemState.objects.filter(pk=state.pk).update(
        state=to_state,
        note=note,
        evidence_url=evidence_url,
        updated_by=None,
        updated_at=now,
        verified_at=now if passed else state.verified_at,
        expires_at=now + timedelta(days=state.item.valid_days) if passed else None,
        version=state.version + 1,
    )
    audit.record(
        action=action,
        actor=None,
        service=service,
        item_key=state.item_key,
        from_state=state.state,
        to_state=to_state,
        note=note,
        evidence_url=evidence_url,
        payload=payload,
    )
