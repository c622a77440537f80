"""Write operations of the portal. Views, tasks, commands and admin call these and nothing
else changes readiness data; each one writes its audit events in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotAllowed, NotFound
from portal import audit, evidence_files
from portal.models import (
    CI_FACTS,
    AuditEvent,
    ChecklistTemplate,
    EvidenceFile,
    ItemState,
    RunbookStep,
    Service,
    Team,
    TemplateItem,
    TemplateSection,
)
from portal.permissions import can_edit_service
from portal.selectors import service_templates
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
    _check_no_shared_keys(data)
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
        levels=[
            {
                "key": level.key,
                "name": level.name,
                "requires": [
                    {
                        "key": r.key,
                        "effective_from": r.effective_from.isoformat()
                        if r.effective_from
                        else None,
                    }
                    for r in level.requires
                ],
            }
            for level in data.levels
        ],
        tier_levels={str(tier): level for tier, level in data.tier_levels.items()},
        applies_to=data.applies_to,
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
                check_roles=item.roles,
                weight=item.weight,
                effective_from=item.effective_from,
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
    if data.applies_to:
        # An automatic checklist: every service it applies to carries it now (its states
        # move to this version by key, as an upgrade of a service's own template does).
        for service in Service.objects.exclude(template__key=data.key).select_related("template"):
            if template.applies(service.tier, service.lifecycle):
                _sync_item_states(service, template)
                send_item_states_changed(service)
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
    """States for every item of ``template`` (new ones open), pointing at its items; a state
    of an older version of the same template whose key left it keeps its history (item
    None). States of another checklist the service carries are left alone."""
    items = {item.key: item for item in template.items.all()}
    states = {s.item_key: s for s in service.item_states.select_related("item__template")}
    for key, state in states.items():
        new_item = items.get(key)
        if new_item is None and (state.item is None or state.item.template.key != template.key):
            continue  # another checklist's item, or already an orphan
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
    """Move ``service`` to ``template``: states kept by key, new items open. New blocking
    items or new ``verifies`` mappings can undo a launch approval, so the change is
    announced like any other change of item states."""
    old = service.template
    service.template = template
    service.save(update_fields=["template"])
    _sync_item_states(service, template)
    send_item_states_changed(service)
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


def sync_checklists(service: Service) -> None:
    """Item states for every checklist that applies to ``service`` by itself (its tier and
    lifecycle: ``ChecklistTemplate.applies_to``). Idempotent; call after the tier or the
    lifecycle changed. A checklist that stops applying keeps its states (history) but no
    longer counts."""
    for template in service_templates(service)[1:]:
        _sync_item_states(service, template)


def _check_no_shared_keys(data: TemplateData) -> None:
    """Item keys are how states find their items: two template keys must not share one when
    a service may carry both (an automatic checklist and any other)."""
    automatic = ChecklistTemplate.objects.exclude(key=data.key).exclude(applies_to={})
    others = (
        TemplateItem.objects.exclude(template__key=data.key)
        if data.applies_to
        else TemplateItem.objects.filter(template__in=automatic)
    )
    shared = sorted(set(others.filter(key__in=data.item_keys).values_list("key", flat=True)))
    if shared:
        raise InvalidInput(
            f"{data.key}: item key(s) {', '.join(shared[:8])} belong to another template; "
            "a service carrying both could not tell them apart. Nothing was imported."
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
    sync_checklists(service)
    audit.record(
        action=AuditEvent.Action.SERVICE_CREATED,
        actor=actor,
        service=service,
        payload={"template": str(template), "tier": tier},
    )
    return service


# --- checklist items ---------------------------------------------------------------------------


class AutomatedCheckFailing(Conflict):
    """A person tried to mark done (or not applicable) an item whose automated verdict is
    failing. Only an approved exemption lets such a tick stand (``item_exempt``)."""

    def __init__(self, state: ItemState) -> None:
        self.item_key = state.item_key
        self.checks = state.failing_checks
        super().__init__(
            f"{state.item_key} is failing its automated check "
            f"({', '.join(self.checks)}): marking it done or not applicable needs an approved "
            "exemption (reason, expiry, approver), not a link. Fix the check and run it again, "
            "or request an exemption. Nothing was saved."
        )


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


EVIDENCE_TEXT_MAX = 10_000


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
    evidence_text: str = "",
    evidence_file: UploadedFile | None = None,
    now: datetime | None = None,
) -> ItemState:
    """Mark an item done, not applicable or reopen it.

    ``seen_version`` is the version the user was looking at: if someone saved the item in
    between, the change is refused (Conflict) and nothing is overwritten. While the item's
    automated verdict is failing (``ItemState.failing_checks``), done and not applicable are
    refused (AutomatedCheckFailing): no link or note overrides a failing check.

    Evidence is a link, a text or a file (or several), given with done or not applicable;
    an item that requires evidence needs one of them. A file is checked (size, sniffed type)
    before anything is written, and removed again if the change is refused after it was
    stored: a refused change leaves neither a row nor a file (portal/evidence_files.py)."""
    if not can_edit_service(actor, service):
        raise NotAllowed("Only members of the owning team can change this service's checklist.")
    if action not in ACTIONS:
        raise InvalidInput(f"Unknown action {action!r}: use done, na or reopen.")
    state = (
        ItemState.objects.select_related("item")
        .filter(
            service=service,
            item_key=item_key,
            item__template__in=[t.pk for t in service_templates(service)],
        )
        .first()
    )
    if state is None or state.item is None:
        raise NotFound(f"{service.slug} has no checklist item {item_key!r}.")
    if action in ("done", "na") and state.failing_checks:
        raise AutomatedCheckFailing(state)
    note = note.strip()
    evidence_url = _check_evidence_url(evidence_url)
    evidence_text = evidence_text.strip()
    to_state, audit_action = ACTIONS[action]
    if action == "na" and not note:
        raise InvalidInput("Marking an item not applicable needs a reason.")
    if action == "reopen" and (evidence_text or evidence_file is not None):
        raise InvalidInput(
            "Evidence goes with marking an item done or not applicable, not with reopening "
            "it. Nothing was saved."
        )
    if len(evidence_text) > EVIDENCE_TEXT_MAX:
        raise InvalidInput(
            f"The evidence text is longer than {EVIDENCE_TEXT_MAX:,} characters: attach it "
            "as a file instead. Nothing was saved."
        )
    has_evidence = bool(evidence_url or evidence_text or evidence_file is not None)
    if action == "done" and state.item.evidence_required and not has_evidence:
        raise InvalidInput(
            "This item needs evidence to be marked done: a link (http or https), a text or a file."
        )
    checked = evidence_files.check(evidence_file) if evidence_file is not None else None
    now = now or timezone.now()
    expires = now + timedelta(days=state.item.valid_days) if action == "done" else None
    stored = evidence_files.store(checked) if checked is not None else None
    try:
        file_row = (
            EvidenceFile.objects.create(
                service=service,
                item_key=item_key,
                name=checked.name,
                stored_name=stored,
                content_type=checked.content_type,
                size=checked.size,
                sha256=checked.sha256,
                uploaded_by_id=actor.pk if actor.is_authenticated else None,
            )
            if checked is not None and stored is not None
            else None
        )
        changed = ItemState.objects.filter(pk=state.pk, version=seen_version).update(
            state=to_state,
            note=note,
            evidence_url=evidence_url,
            evidence_text=evidence_text,
            evidence_file=file_row,
            updated_by=actor if actor.is_authenticated else None,
            updated_at=now,
            verified_at=now if action == "done" else None,
            expires_at=expires,
            exempt_checks=[],
            version=seen_version + 1,
        )
        if not changed:
            state.refresh_from_db()
            who = state.updated_by.get_username() if state.updated_by else "someone"
            raise Conflict(
                f"{who} changed this item while you were editing it (it is now "
                f"{state.get_state_display().lower()}). Nothing was saved: review and try again."
            )
        payload: dict[str, Any] = {"version": seen_version + 1}
        if evidence_text:
            payload["evidence_text"] = evidence_text
        if file_row is not None:
            payload["evidence_file"] = file_row.audit_record()
        audit.record(
            action=audit_action,
            actor=actor,
            service=service,
            item_key=item_key,
            from_state=state.state,
            to_state=to_state,
            note=note,
            evidence_url=evidence_url,
            payload=payload,
        )
    except BaseException:
        # The transaction rolls the rows back; the file is not transactional.
        if stored is not None:
            evidence_files.discard(stored)
        raise
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
    *,
    service: Service,
    results: dict[str, str],
    evidence_url: str,
    run_label: str,
    summaries: dict[str, str] | None = None,
) -> dict[str, int]:
    """Feed a finished run's results into the checklist, by the system user.

    Every mapped check's result is kept on the item (``check_results``: the row shows it as
    evidence). Only ``verifies`` mappings decide: an item whose verifying checks include a
    ``fail`` becomes ``failing`` (unless an approved exemption lets its done-tick stand over
    exactly those checks); an item all of whose verifying checks passed in this run is
    verified (``done``, validity restarted); a failing item none of whose verifying checks
    fails any more is reopened. ``supports`` results never tick or fail an item. Items marked
    not applicable keep their state (their results are recorded); ``skip`` and ``error``
    decide nothing."""
    now = timezone.now()
    counts = {"verified": 0, "failing": 0, "reopened": 0}
    states = ItemState.objects.select_related("item").filter(
        service=service, item__template_id=service.template_id
    )
    for state in states:
        assert state.item is not None
        mapped = [k for k in state.item.check_keys if k in results]
        if not mapped:
            continue
        seen = dict(state.check_results)
        for key in mapped:
            seen[key] = {
                "status": results[key],
                "summary": (summaries or {}).get(key, "")[:300],
                "source": run_label,
                "url": evidence_url,
                "at": now.isoformat(),
            }
        verifying = state.item.verify_keys
        ran = [k for k in verifying if k in results]
        failing = [k for k in verifying if seen.get(k, {}).get("status") == "fail"]
        uncovered = [k for k in failing if not _exempt_tick_covers(state, [k], now)]
        newly_failed = [k for k in ran if results[k] == "fail"]
        verdict: str | None = None
        if state.state == ItemState.State.NOT_APPLICABLE:
            pass  # a person said the item does not apply: results are kept as evidence only
        elif uncovered and newly_failed:
            verdict = "failing"
            note = f"{run_label}: {', '.join(newly_failed)} failed"
        elif ran and not failing and all(results.get(k) == "pass" for k in verifying):
            verdict = "verified"
            note = f"{run_label}: {', '.join(verifying)} passed"
        elif state.state == ItemState.State.FAILING and not failing:
            verdict = "reopened"
            note = f"{run_label}: no verifying check fails any more; not all of them passed"
        if verdict is None:
            ItemState.objects.filter(pk=state.pk).update(check_results=seen)
            continue
        _apply_verdict(
            service=service,
            state=state,
            verdict=verdict,
            note=note,
            evidence_url=evidence_url,
            payload={"checks": {k: results[k] for k in mapped}},
            now=now,
            check_results=seen,
        )
        counts[verdict] += 1
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
    CI), by the system user, with the same effect as a verifying check: a pass verifies the
    item (validity restarted), a fail makes it ``failing``. The verdict is kept on the item
    under ``ci-facts`` (a failed one refuses manual ticks like a failing check). ``verdicts``
    maps item key to (passed, note). Items marked not applicable and keys not on the
    service's current template are left alone."""
    now = timezone.now()
    counts = {"verified": 0, "failing": 0}
    states = (
        ItemState.objects.select_related("item")
        .filter(service=service, item__template_id=service.template_id, item_key__in=verdicts)
        .exclude(state=ItemState.State.NOT_APPLICABLE)
    )
    for state in states:
        passed, note = verdicts[state.item_key]
        seen = dict(state.check_results)
        seen[CI_FACTS] = {
            "status": "pass" if passed else "fail",
            "summary": note[:300],
            "source": source,
            "url": evidence_url,
            "at": now.isoformat(),
        }
        if not passed and _exempt_tick_covers(state, [CI_FACTS], now):
            ItemState.objects.filter(pk=state.pk).update(check_results=seen)
            continue
        verdict = "verified" if passed else "failing"
        _apply_verdict(
            service=service,
            state=state,
            verdict=verdict,
            note=f"{source}: {note}",
            evidence_url=evidence_url,
            payload={"source": source, **(payload or {})},
            now=now,
            check_results=seen,
        )
        counts[verdict] += 1
    send_item_states_changed(service)
    return counts


def _exempt_tick_covers(state: ItemState, keys: list[str], now: datetime) -> bool:
    """The item is done under an approved exemption that names every one of ``keys``."""
    return (
        state.state == ItemState.State.DONE
        and set(keys) <= set(state.exempt_checks)
        and (state.expires_at is None or state.expires_at > now)
    )


_VERDICTS = {
    "verified": (ItemState.State.DONE, AuditEvent.Action.VERIFIED),
    "failing": (ItemState.State.FAILING, AuditEvent.Action.FAILED),
    "reopened": (ItemState.State.OPEN, AuditEvent.Action.REOPEN),
}


def _apply_verdict(
    *,
    service: Service,
    state: ItemState,
    verdict: str,
    note: str,
    evidence_url: str,
    payload: dict[str, Any],
    now: datetime,
    check_results: dict[str, Any],
) -> None:
    """An automated verdict on one item: verified (done, validity restarted), failing, or
    reopened (no longer failing, not verified either)."""
    assert state.item is not None
    to_state, action = _VERDICTS[verdict]
    passed = verdict == "verified"
    ItemState.objects.filter(pk=state.pk).update(
        state=to_state,
        note=note,
        evidence_url=evidence_url,
        evidence_text="",
        evidence_file=None,
        updated_by=None,
        updated_at=now,
        verified_at=now if passed else state.verified_at,
        expires_at=now + timedelta(days=state.item.valid_days) if passed else None,
        check_results=check_results,
        exempt_checks=[],
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


@transaction.atomic
def item_exempt(
    *,
    service: Service,
    item_key: str,
    actor: User,
    checks: list[str],
    expires_at: datetime,
    note: str,
    evidence_url: str = "",
    payload: dict[str, Any] | None = None,
) -> ItemState:
    """Mark an item done over its failing automated checks because an approved exemption
    says so (the caller, the exemption's approval, checks who may grant it). The tick lasts
    until the exemption expires, names the checks it stands over (``exempt_checks``: a
    later failure of another verifying check still fails the item) and is audited as
    ``exempted`` by the approver."""
    state = (
        ItemState.objects.select_for_update()
        .select_related("item")
        .filter(service=service, item_key=item_key, item__template=service.template)
        .first()
    )
    if state is None or state.item is None:
        raise NotFound(f"{service.slug} has no checklist item {item_key!r}.")
    now = timezone.now()
    ItemState.objects.filter(pk=state.pk).update(
        state=ItemState.State.DONE,
        note=note,
        evidence_url=evidence_url,
        evidence_text="",
        evidence_file=None,
        updated_by=actor if actor.is_authenticated else None,
        updated_at=now,
        verified_at=now,
        expires_at=expires_at,
        exempt_checks=sorted(set(checks)),
        version=state.version + 1,
    )
    audit.record(
        action=AuditEvent.Action.EXEMPTED,
        actor=actor,
        service=service,
        item_key=item_key,
        from_state=state.state,
        to_state=ItemState.State.DONE,
        note=note,
        evidence_url=evidence_url,
        payload={
            "checks": sorted(set(checks)),
            "expires_at": expires_at.isoformat(),
            **(payload or {}),
        },
    )
    state.refresh_from_db()
    send_item_states_changed(service)
    return state
