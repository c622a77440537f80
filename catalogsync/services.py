"""The catalog import: read a source in full, then create or update teams and services in one
transaction, with an audit event for every service it creates, moves, changes or marks
removed. Idempotent: a second import of the same catalog writes nothing but its own sync row.

What Preflight takes from the catalog:
- a Group entity, or a group named as a Component's owner, is a team (slug: the group's name,
  prefixed with its namespace outside ``default``; name: its display name);
- a Component is a service: its title (or name), description, owner (the team), lifecycle
  (kept as written, and mapped onto Preflight's), system, links (TechDocs included) and source
  location (also its repository URL);
- an entity the source no longer has is marked removed, never deleted; it is listed for an
  admin on the catalog page, and clears if it comes back.
Other kinds (System, User, API, Resource, Domain, Location...) are read and counted, not
imported: people and their teams come from single sign-on (sso/).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from catalogsync.descriptors import Entity, EntityRef, Refusal
from catalogsync.models import CatalogEntity, CatalogSync, SyncChange, SyncRefusal
from catalogsync.secrets import scrub
from catalogsync.sources import (
    Reading,
    SourceFailed,
    read_api,
    read_repository,
    read_tree,
)
from checks.engine import shared_client
from checks.selectors import outbound_policy
from portal import audit
from portal import services as portal_services
from portal.models import AuditEvent, ChecklistTemplate, Service, Team

User = AbstractBaseUser | AnonymousUser
Progress = Callable[[str], None]

LIFECYCLES = {
    "production": Service.Lifecycle.PRODUCTION,
    "experimental": Service.Lifecycle.DEVELOPMENT,
    "development": Service.Lifecycle.DEVELOPMENT,
    "staging": Service.Lifecycle.STAGING,
    "deprecated": Service.Lifecycle.RETIRED,
    "retired": Service.Lifecycle.RETIRED,
}
_SLUG_JUNK = re.compile(r"[^a-z0-9-]+")
API_TIMEOUT_S = 15.0
API_MAX_PAGE_BYTES = 8 * 1024 * 1024


def _noop(_: str) -> None:
    return None


# --- reading ---------------------------------------------------------------------------------


def source_kind(source: str) -> str:
    """``api``, ``git`` or ``path``."""
    if source.startswith("git+"):
        return "git"
    if urlsplit(source).scheme in ("http", "https"):
        return "api"
    return "path"


def read_source(source: str, *, progress: Progress = _noop) -> Reading:
    kind = source_kind(source)
    if kind == "api":
        client = shared_client(
            outbound_policy(), timeout=API_TIMEOUT_S, max_body_bytes=API_MAX_PAGE_BYTES
        )
        return read_api(
            source,
            client,
            token=settings.PREFLIGHT_CATALOG_TOKEN,
            max_entities=settings.PREFLIGHT_CATALOG_MAX_ENTITIES,
            progress=progress,
        )
    if kind == "git":
        url, _, ref = source[len("git+") :].partition("#")
        return read_repository(url, outbound_policy(), ref=ref or None, progress=progress)
    path = Path(source).expanduser()
    if path.is_file():
        return read_tree(path.parent, start=path, progress=progress)
    if path.is_dir():
        return read_tree(path, progress=progress)
    raise SourceFailed(f"{source}: no such file or directory (nor an http(s) or git+ URL)")


# --- applying --------------------------------------------------------------------------------


@dataclass
class Report:
    """What an import did (or, dry, would do)."""

    source: str
    counts: dict[str, int] = field(default_factory=dict)
    changes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def change(self, ref: str, action: str, **detail: Any) -> None:
        self.changes.append((ref, action, detail))
        self.count(action)

    def refuse(self, refusal: Refusal) -> None:
        self.refusals.append(refusal)
        self.count("refused")


class _DryRun(Exception):
    pass


def slug_for(ref: EntityRef) -> str:
    base = ref.name if ref.namespace == "default" else f"{ref.namespace}-{ref.name}"
    slug = _SLUG_JUNK.sub("-", base.lower().replace(".", "-").replace("_", "-")).strip("-")
    return slug[:100]


class _Applier:
    def __init__(self, reading: Reading, report: Report, actor: User | None) -> None:
        self.reading = reading
        self.report = report
        self.actor = actor
        self.source = report.source
        self.now = timezone.now()
        self.entities_by_ref = {
            e.ref: e for e in CatalogEntity.objects.select_related("team", "service")
        }
        self.teams: dict[str, Team] = {}
        self.template = (
            ChecklistTemplate.objects.filter(key=settings.PREFLIGHT_CATALOG_TEMPLATE)
            .order_by("-version")
            .first()
        )

    # entities of this source, by ref; duplicates refused
    def unique(self) -> dict[str, tuple[str, Entity]]:
        found: dict[str, tuple[str, Entity]] = {}
        for where, entity in self.reading.entities:
            ref = str(entity.ref)
            if ref in found:
                self.report.refuse(
                    Refusal(
                        where, ref, f"defined twice: the first definition ({found[ref][0]}) is used"
                    )
                )
                continue
            found[ref] = (where, entity)
        return found

    def run(self) -> None:
        for refusal in self.reading.refusals:
            self.report.refuse(refusal)
        found = self.unique()
        seen = set(found) | {r.ref for r in self.report.refusals if r.ref}
        for _ref, (where, entity) in sorted(found.items()):
            if entity.kind == "group":
                self.team_for(entity.ref, entity, where)
            elif entity.kind != "component":
                self.report.count("ignored")
        for _ref, (where, entity) in sorted(found.items()):
            if entity.kind == "component":
                assert entity.owner is not None
                seen.add(str(entity.owner))
                self.service_for(entity, where)
        self.mark_removed(seen)

    # --- teams ---

    def _team_name(self, wanted: str, slug: str, team: Team | None) -> str:
        taken = Team.objects.filter(name=wanted)
        if team is not None:
            taken = taken.exclude(pk=team.pk)
        return f"{wanted} ({slug})"[:100] if taken.exists() else wanted[:100]

    def team_for(self, ref: EntityRef, entity: Entity | None, where: str) -> Team:
        key = str(ref)
        if key in self.teams:
            return self.teams[key]
        slug = slug_for(ref)
        wanted = (entity.display_name or entity.title) if entity else ""
        record = self.entities_by_ref.get(key)
        team = record.team if record is not None else None
        if team is None:
            team = Team.objects.filter(slug=slug).first()
            if team is not None:
                self.report.change(key, "linked", team=team.slug)
            else:
                team = Team.objects.create(
                    name=self._team_name(wanted or ref.name, slug, None), slug=slug
                )
                self.report.change(key, "created", team=team.slug, name=team.name)
        elif wanted and team.name != wanted and not team.name.startswith(f"{wanted} ("):
            old = team.name
            team.name = self._team_name(wanted, team.slug, team)
            if team.name != old:
                team.save(update_fields=["name"])
                self.report.change(key, "updated", name=[old, team.name])
        elif entity is not None:
            self.report.count("unchanged")
        self.track(key, "group", team=team)
        self.teams[key] = team
        return team

    def track(
        self, ref: str, kind: str, *, team: Team | None = None, service: Service | None = None
    ) -> None:
        record = self.entities_by_ref.get(ref)
        if record is None:
            record = CatalogEntity.objects.create(
                ref=ref, kind=kind, source=self.source, team=team, service=service
            )
            self.entities_by_ref[ref] = record
            return
        changed: list[str] = []
        if record.source != self.source:
            record.source, changed = self.source, [*changed, "source"]
        if team is not None and record.team_id != team.pk:
            record.team, changed = team, [*changed, "team"]
        if service is not None and record.service_id != service.pk:
            record.service, changed = service, [*changed, "service"]
        if record.removed_at is not None:
            record.removed_at, changed = None, [*changed, "removed_at"]
            if kind == "group":  # a service's return is reported with its own changes
                self.report.change(ref, "restored")
        if changed:
            record.save(update_fields=changed)

    # --- services ---

    def desired(self, entity: Entity, team: Team) -> dict[str, Any]:
        source_url = ""
        kind, _, target = entity.source_location.partition(":")
        if kind == "url" and urlsplit(target).scheme in ("http", "https") and len(target) <= 200:
            source_url = target
        fields: dict[str, Any] = {
            "name": (entity.title or entity.ref.name)[:100],
            "description": entity.description,
            "team": team,
            "catalog_lifecycle": entity.lifecycle,
            "catalog_system": entity.system,
            "catalog_links": [{k: v for k, v in vars(link).items() if v} for link in entity.links],
            "catalog_source_location": entity.source_location,
            "catalog_removed_at": None,
        }
        if entity.lifecycle.lower() in LIFECYCLES:
            fields["lifecycle"] = LIFECYCLES[entity.lifecycle.lower()]
        if source_url:
            fields["repository_url"] = source_url
        return fields

    def service_for(self, entity: Entity, where: str) -> None:
        ref = str(entity.ref)
        assert entity.owner is not None
        owner = self.entities_by_ref.get(str(entity.owner))
        team = (
            self.team_for(entity.owner, None, where)
            if owner is None or owner.team is None
            else owner.team
        )
        self.teams[str(entity.owner)] = team
        record = self.entities_by_ref.get(ref)
        service = record.service if record is not None else None
        if service is None:
            service = Service.objects.filter(catalog_ref=ref).first()
        fields = self.desired(entity, team)
        if service is None:
            slug = slug_for(entity.ref)
            existing = Service.objects.filter(slug=slug).first()
            if existing is not None and existing.catalog_ref not in (None, ref):
                self.report.refuse(
                    Refusal(where, ref, f"the slug {slug!r} is taken by {existing.catalog_ref}")
                )
                return
            if existing is not None:
                existing.catalog_ref = ref
                existing.save(update_fields=["catalog_ref"])
                self.report.change(ref, "linked", service=slug)
                service = existing
            else:
                self.create(entity, slug, fields, where)
                return
        self.update(service, ref, fields)
        self.track(ref, "component", service=service)

    def create(self, entity: Entity, slug: str, fields: dict[str, Any], where: str) -> None:
        ref = str(entity.ref)
        if self.template is None:
            self.report.refuse(
                Refusal(
                    where,
                    ref,
                    f"no checklist template {settings.PREFLIGHT_CATALOG_TEMPLATE!r} is imported "
                    "(manage.py import_template)",
                )
            )
            return
        service = portal_services.service_create(
            name=fields["name"],
            slug=slug,
            team=fields["team"],
            template=self.template,
            lifecycle=fields.get("lifecycle", Service.Lifecycle.DEVELOPMENT),
            description=fields["description"],
            repository_url=fields.get("repository_url", ""),
            actor=self.actor,
        )
        catalog = {k: v for k, v in fields.items() if k.startswith("catalog_")}
        Service.objects.filter(pk=service.pk).update(catalog_ref=ref, **catalog)
        self.report.change(ref, "created", service=slug, team=fields["team"].slug)
        self.track(ref, "component", service=service)

    def update(self, service: Service, ref: str, fields: dict[str, Any]) -> None:
        old_team = service.team
        diff: dict[str, list[Any]] = {}
        for name, value in fields.items():
            if name == "team":
                continue
            current = getattr(service, name)
            if current != value:
                diff[name] = [_shown(current), _shown(value)]
                setattr(service, name, value)
        moved = service.team_id != fields["team"].pk
        if moved:
            service.team = fields["team"]
        if not diff and not moved:
            self.report.count("unchanged")
            return
        service.save(update_fields=[*diff, *(["team"] if moved else [])])
        if "lifecycle" in diff or "tier" in diff:
            portal_services.sync_checklists(service)  # a checklist may apply now
        if moved:
            audit.record(
                action=AuditEvent.Action.SERVICE_MOVED,
                actor=self.actor,
                service=service,
                payload={
                    "from": old_team.slug,
                    "to": service.team.slug,
                    "source": "catalog",
                    "entity": ref,
                },
            )
            self.report.change(
                ref,
                "moved",
                service=service.slug,
                **{"from": old_team.slug, "to": service.team.slug},
            )
        fields_changed = {k: v for k, v in diff.items() if k != "catalog_removed_at"}
        if "catalog_removed_at" in diff:
            self.report.change(ref, "restored", service=service.slug)
        if fields_changed:
            audit.record(
                action=AuditEvent.Action.SERVICE_UPDATED,
                actor=self.actor,
                service=service,
                payload={"source": "catalog", "entity": ref, "changes": fields_changed},
            )
            self.report.change(ref, "updated", service=service.slug, changes=fields_changed)

    # --- removals ---

    def mark_removed(self, seen: set[str]) -> None:
        gone = (
            CatalogEntity.objects.select_related("service", "team")
            .filter(source=self.source, removed_at__isnull=True)
            .exclude(ref__in=seen)
        )
        for record in gone:
            record.removed_at = self.now
            record.save(update_fields=["removed_at"])
            service = record.service
            if service is not None and service.catalog_removed_at is None:
                service.catalog_removed_at = self.now
                service.save(update_fields=["catalog_removed_at"])
                audit.record(
                    action=AuditEvent.Action.SERVICE_UPDATED,
                    actor=self.actor,
                    service=service,
                    payload={"source": "catalog", "entity": record.ref, "catalog": "removed"},
                )
            self.report.change(
                record.ref,
                "removed",
                service=service.slug if service else "",
                team=record.team.slug if record.team else "",
            )


def _shown(value: Any) -> Any:
    if isinstance(value, Team):
        return value.slug
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- the operation ---------------------------------------------------------------------------


def import_catalog(
    *,
    source: str,
    actor: User | None = None,
    trigger: str = "command",
    dry_run: bool = False,
    progress: Progress = _noop,
) -> tuple[CatalogSync | None, Report]:
    """Import one source. Returns the stored sync (None for a dry run) and its report.

    A source that cannot be read as a whole fails the sync with its reason and writes nothing
    else; so does a source that answers with no entity at all (a wrong path or an empty
    catalog would otherwise mark every service it had removed)."""
    source = source.strip()
    user = actor if isinstance(actor, get_user_model()) else None
    sync = None
    if not dry_run:
        sync = CatalogSync.objects.create(source=source, trigger=trigger, triggered_by=user)
    report = Report(source=source)
    try:
        reading = read_source(source, progress=progress)
        if not reading.entities and not reading.refusals:
            raise SourceFailed("the source has no entities: nothing was imported or marked removed")
    except SourceFailed as exc:
        if sync is not None:
            sync.status = CatalogSync.Status.FAILED
            sync.error = scrub(exc.reason)
            sync.finished_at = timezone.now()
            sync.save(update_fields=["status", "error", "finished_at"])
        report.counts["failed"] = 1
        report.refusals.append(Refusal(source, "", scrub(exc.reason)))
        return sync, report
    progress(f"applying {len(reading.entities)} entities")
    try:
        with transaction.atomic():
            _Applier(reading, report, user).run()
            if dry_run:
                raise _DryRun
            assert sync is not None
            SyncChange.objects.bulk_create(
                SyncChange(sync=sync, entity_ref=ref, action=action, detail=detail)
                for ref, action, detail in report.changes
            )
            SyncRefusal.objects.bulk_create(
                SyncRefusal(sync=sync, where=r.where[:500], entity_ref=r.ref[:255], reason=r.reason)
                for r in report.refusals
            )
            sync.status = CatalogSync.Status.SUCCEEDED
            sync.entities_read = len(reading.entities) + len(reading.refusals)
            sync.counts = report.counts
            sync.finished_at = timezone.now()
            sync.save(update_fields=["status", "entities_read", "counts", "finished_at"])
    except _DryRun:
        pass
    except Exception as exc:
        if sync is not None:
            CatalogSync.objects.filter(pk=sync.pk).update(
                status=CatalogSync.Status.FAILED,
                error=f"the import stopped ({type(exc).__name__}); nothing was written",
                finished_at=timezone.now(),
            )
        raise
    return sync, report
