"""Read operations of the portal: readiness figures, checklist pages, lists and history.
Queries are aggregated in the database so their count does not grow with the data."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django.conf import settings
from django.db.models import Case, Count, Exists, F, OuterRef, Q, QuerySet, When
from django.utils import timezone

from portal import levels
from portal.actors import SYSTEM_ACTOR_NAME
from portal.models import (
    AuditEvent,
    ChecklistTemplate,
    ItemState,
    Membership,
    Service,
    Team,
    TemplateSection,
)

COMPLETE = (ItemState.State.DONE, ItemState.State.NOT_APPLICABLE)


def _pct(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 100


@dataclass(frozen=True)
class Readiness:
    total: int
    complete: int
    blocking_total: int
    blocking_complete: int
    failing: int
    stale: int

    @property
    def pct_all(self) -> int:
        return _pct(self.complete, self.total)

    @property
    def pct_blocking(self) -> int:
        return _pct(self.blocking_complete, self.blocking_total)

    @property
    def state(self) -> str:
        """failing > stale > ready (every blocking item complete) > in progress."""
        if self.failing:
            return "failing"
        if self.stale:
            return "stale"
        if self.blocking_complete == self.blocking_total:
            return "ready"
        return "in_progress"


SERVICE_STATES = {
    "ready": "Ready",
    "in_progress": "In progress",
    "stale": "Stale",
    "failing": "Failing",
}


def _readiness_annotations() -> dict[str, Any]:
    # Only states of the current template version count (removed keys keep history only).
    current = Q(item_states__item__template=F("template"))
    blocking = current & Q(item_states__item__blocking=True)
    done = Q(item_states__state__in=COMPLETE)
    return {
        "n_total": Count("item_states", filter=current),
        "n_complete": Count("item_states", filter=current & done),
        "n_blocking": Count("item_states", filter=blocking),
        "n_blocking_complete": Count("item_states", filter=blocking & done),
        "n_failing": Count(
            "item_states", filter=current & Q(item_states__state=ItemState.State.FAILING)
        ),
        "n_stale": Count(
            "item_states", filter=current & Q(item_states__state=ItemState.State.STALE)
        ),
    }


def readiness_of(service: Any) -> Readiness:
    """Readiness from a service annotated by :func:`services_with_readiness`."""
    return Readiness(
        total=service.n_total,
        complete=service.n_complete,
        blocking_total=service.n_blocking,
        blocking_complete=service.n_blocking_complete,
        failing=service.n_failing,
        stale=service.n_stale,
    )


def services_with_readiness() -> QuerySet[Service]:
    return Service.objects.select_related("team", "template").annotate(**_readiness_annotations())


def service_readiness(service: Service) -> Readiness:
    annotated = services_with_readiness().get(pk=service.pk)
    return readiness_of(annotated)


@dataclass
class ServiceRow:
    service: Service
    readiness: Readiness


def service_list(
    *, team: str = "", tier: str = "", state: str = "", q: str = "", section: str = ""
) -> list[ServiceRow]:
    qs = services_with_readiness()
    if team:
        qs = qs.filter(team__slug=team)
    if section:
        # Exists, not a join: a join would multiply the readiness counts.
        open_items = ItemState.objects.filter(
            service=OuterRef("pk"), item__template=OuterRef("template"), item__section__key=section
        ).exclude(state__in=COMPLETE)
        qs = qs.filter(Exists(open_items))
    if tier:
        qs = qs.filter(tier=tier)
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(slug__icontains=q))
    rows = [ServiceRow(service=s, readiness=readiness_of(s)) for s in qs]
    if state:
        rows = [row for row in rows if row.readiness.state == state]
    return rows


@dataclass
class SectionView:
    section: TemplateSection
    states: list[ItemState] = field(default_factory=list)
    template: str = ""  # the checklist's name when it is not the service's own

    @property
    def total(self) -> int:
        return len(self.states)

    @property
    def complete(self) -> int:
        return sum(1 for s in self.states if s.complete)

    @property
    def pct(self) -> int:
        return _pct(self.complete, self.total)


def automatic_templates() -> list[ChecklistTemplate]:
    """The newest version of each template that applies by itself (``applies_to``)."""
    newest: dict[str, ChecklistTemplate] = {}
    for t in ChecklistTemplate.objects.order_by("key", "version"):
        newest[t.key] = t
    return [t for t in newest.values() if t.applies_to]


def service_templates(
    service: Service, automatic: list[ChecklistTemplate] | None = None
) -> list[ChecklistTemplate]:
    """Every checklist ``service`` carries: its own first, then each template that applies
    by itself to its tier and lifecycle (another template key than its own)."""
    automatic = automatic_templates() if automatic is None else automatic
    extra = [
        t
        for t in automatic
        if t.key != service.template.key and t.applies(service.tier, service.lifecycle)
    ]
    return [service.template, *extra]


def all_item_states(service: Service) -> QuerySet[ItemState]:
    """The service's item states on every checklist it carries (service_templates), its own
    template's first, each in checklist order."""
    ids = [t.pk for t in service_templates(service)]
    return (
        ItemState.objects.filter(service=service, item__template_id__in=ids)
        .select_related("item__template")
        .order_by(
            Case(When(item__template_id=service.template_id, then=0), default=1),
            "item__template__key",
            "item__section__position",
            "item__position",
        )
    )


def item_states(service: Service) -> QuerySet[ItemState]:
    """The service's item states under its current template, with their items, in checklist
    order (section, then item)."""
    return (
        ItemState.objects.filter(service=service, item__template_id=service.template_id)
        .select_related("item")
        .order_by("item__section__position", "item__position")
    )


def checklist(service: Service) -> list[SectionView]:
    """Sections of the service's template, each with its items' states, in template order;
    then the sections of each other checklist it carries (``template`` names it)."""
    templates = service_templates(service)
    sections: dict[int, SectionView] = {}
    for template in templates:
        name = "" if template.pk == service.template_id else template.name
        for s in template.sections.order_by("position"):
            sections[s.pk] = SectionView(section=s, template=name)
    for state in all_item_states(service).select_related("updated_by", "evidence_file"):
        assert state.item is not None
        sections[state.item.section_id].states.append(state)
    return list(sections.values())


def section_view(service: Service, section_id: int) -> SectionView:
    section = TemplateSection.objects.get(pk=section_id)
    view = SectionView(section=section)
    view.states = list(
        ItemState.objects.filter(service=service, item__section_id=section_id)
        .select_related("item", "updated_by", "evidence_file")
        .order_by("item__position")
    )
    return view


HISTORY_PAGE_SIZE = 200


def history(
    *,
    service: Service | None = None,
    team: str = "",
    user: str = "",
    since: date | None = None,
    until: date | None = None,
    limit: int | None = HISTORY_PAGE_SIZE,
) -> QuerySet[AuditEvent]:
    """The events matching the filters, newest first (``limit`` of them; None: all). The
    history page and its exports read the same query."""
    qs = AuditEvent.objects.order_by("-id")
    if service is not None:
        qs = qs.filter(service=service)
    if team:
        qs = qs.filter(team_slug=team)
    if user:
        # The system is told apart by its missing user id, never by a name someone could take.
        if user.casefold() == SYSTEM_ACTOR_NAME:
            qs = qs.filter(actor__isnull=True)
        else:
            qs = qs.filter(actor_name=user, actor__isnull=False)
    if since:
        qs = qs.filter(created_at__gte=_day_start(since))
    if until:
        qs = qs.filter(created_at__lt=_day_start(until) + timedelta(days=1))
    return qs if limit is None else qs[:limit]


@dataclass(frozen=True)
class HistoryPage:
    """One page of the history, newest first, and the cursors of its neighbours: ``older``
    (events before this page's last) and ``newer`` (after its first); None at either end."""

    events: list[AuditEvent]
    older: int | None
    newer: int | None


def history_page(
    events: QuerySet[AuditEvent],
    *,
    before: int | None = None,
    after: int | None = None,
    size: int = HISTORY_PAGE_SIZE,
) -> HistoryPage:
    """A page of ``events`` (filtered, unsliced) by keyset on the id, so a page stays put
    while new events arrive and the cost does not grow with the depth: ``before`` an id
    (older events), or ``after`` one (newer events); neither: the newest page."""
    qs = events.order_by("-id")
    if after is not None:
        rows = list(qs.filter(id__gt=after).order_by("id")[: size + 1])
        more_newer = len(rows) > size
        page = list(reversed(rows[:size]))
        more_older = qs.filter(id__lte=after).exists()
    else:
        if before is not None:
            qs = qs.filter(id__lt=before)
        rows = list(qs[: size + 1])
        more_older = len(rows) > size
        page = rows[:size]
        more_newer = before is not None and events.filter(id__gte=before).exists()
    return HistoryPage(
        events=page,
        older=page[-1].pk if page and more_older else None,
        newer=page[0].pk if page and more_newer else None,
    )


# The exports' columns: everything the page shows, and what the chain seals (seq, hash).
EXPORT_COLUMNS = (
    "seq",
    "id",
    "created_at",
    "actor_kind",
    "actor",
    "action",
    "action_label",
    "service",
    "team",
    "item",
    "from_state",
    "to_state",
    "note",
    "evidence_url",
    "payload",
    "hash",
)


def export_rows(events: QuerySet[AuditEvent]) -> Iterator[dict[str, Any]]:
    """Every event of ``events`` (filtered, unsliced) as a plain record, oldest first (chain
    order), read in chunks so the export's memory does not grow with the history."""
    for event in events.order_by("id").iterator(chunk_size=500):
        yield {
            "seq": event.seq,
            "id": event.pk,
            "created_at": event.created_at.isoformat(),
            "actor_kind": event.actor_kind,
            "actor": SYSTEM_ACTOR_NAME if event.is_system else event.actor_name,
            "action": event.action,
            "action_label": event.get_action_display(),
            "service": event.service_slug,
            "team": event.team_slug,
            "item": event.item_key,
            "from_state": event.from_state,
            "to_state": event.to_state,
            "note": event.note,
            "evidence_url": event.evidence_url,
            "payload": event.payload,
            "hash": event.hash,
        }


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def catalog_entity_url(service: Service) -> str:
    """The service's page in the software catalog's web UI (PREFLIGHT_CATALOG_UI_URL), or ""
    when it came from no catalog or no UI is configured."""
    ui = settings.PREFLIGHT_CATALOG_UI_URL
    if not service.catalog_ref or not ui:
        return ""
    kind, _, rest = service.catalog_ref.partition(":")
    namespace, _, name = rest.partition("/")
    return f"{ui}/catalog/{quote(namespace)}/{quote(kind)}/{quote(name)}"


def catalog_links(service: Service) -> list[dict[str, str]]:
    """The service's links from the catalog that are safe to render: http(s) URLs only,
    whatever the JSON column holds (the import refuses others; an edit by hand might not)."""
    links = service.catalog_links if isinstance(service.catalog_links, list) else []
    return [
        {"url": link["url"], "title": str(link.get("title") or link["url"])}
        for link in links
        if isinstance(link, dict)
        and isinstance(link.get("url"), str)
        and urlsplit(link["url"]).scheme in ("http", "https")
    ]


def service_by_catalog_ref(ref: str) -> Service | None:
    """The service a catalog entity is (refs compare case-insensitively; ``kind:`` defaults
    to component and the namespace to ``default``, as in Backstage)."""
    text = ref.strip().lower()
    if not text:
        return None
    if ":" not in text:
        text = f"component:{text}"
    kind, _, rest = text.partition(":")
    if "/" not in rest:
        rest = f"default/{rest}"
    return (
        Service.objects.select_related("team", "template")
        .filter(catalog_ref=f"{kind}:{rest}")
        .first()
    )


def home_team(user: object) -> Team | None:
    """The team whose dashboard a user lands on after signing in: their first team by name
    (leads before members); None for users of no team (reviewers, admins)."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return None
    membership = (
        Membership.objects.filter(user_id=pk)
        .select_related("team")
        .order_by("role", "team__name")  # "lead" sorts before "member"
        .first()
    )
    return membership.team if membership else None


def level_items(states: Iterable[ItemState], *, now: datetime) -> dict[str, levels.Item]:
    """The items of a template as portal.levels sees them, from item states (with items)."""
    out = {}
    for state in states:
        item = state.item
        assert item is not None
        out[state.item_key] = levels.Item(
            key=state.item_key,
            title=item.title,
            weight=item.weight,
            effective_from=item.effective_from,
            status=levels.item_status(state.state, state.expires_at, now),
        )
    return out


def service_levels(
    service: Service, *, now: datetime | None = None, exempted: dict[str, str] | None = None
) -> list[TemplateLevel]:
    """The service's level and score on each checklist it carries (exemptions by name are
    the caller's: reviews.levels adds them)."""
    now = now or timezone.now()
    by_template: dict[int, list[ItemState]] = {}
    for state in all_item_states(service):
        assert state.item is not None
        by_template.setdefault(state.item.template_id, []).append(state)
    out = []
    for template in service_templates(service):
        result = levels.compute(
            levels.levels_from_json(template.levels),
            level_items(by_template.get(template.pk, []), now=now),
            today=timezone.localdate(now),
            exempted=exempted or {},
        )
        out.append(
            TemplateLevel(
                template_key=template.key,
                template_name=template.name,
                version=template.version,
                required=template.tier_levels.get(str(service.tier), ""),
                result=result,
            )
        )
    return out


@dataclass(frozen=True)
class TemplateLevel:
    """A service's standing on one template: its level result and the level its tier
    requires for a launch (empty when the template requires none)."""

    template_key: str
    template_name: str
    version: int
    required: str
    result: levels.LevelResult

    @property
    def required_name(self) -> str:
        level = next((lv for lv in self.result.levels if lv.key == self.required), None)
        return level.name if level else ""

    @property
    def meets_required(self) -> bool:
        if not self.required:
            return True
        ranks = [lv.key for lv in self.result.levels]
        return self.result.rank > ranks.index(self.required)

    def as_dict(self) -> dict[str, Any]:
        return {
            "template": self.template_key,
            "template_name": self.template_name,
            "version": self.version,
            "required_level": self.required or None,
            "meets_required": self.meets_required,
            **self.result.as_dict(),
        }
