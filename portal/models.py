"""Records of the readiness portal: teams, services, versioned checklist templates, item
states and the append-only, hash-chained audit log."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models

from core.immutable import ImmutableError, ImmutableModel, ImmutableQuerySet

# check_results key of the verdicts drawn from facts pushed by CI (coverage, scans, audit).
CI_FACTS = "ci-facts"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's membership of a team. Members are the team's leads: they change the
    checklist of the team's services."""

    class Role(models.TextChoices):
        LEAD = "lead", "Team lead"
        MEMBER = "member", "Member"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.LEAD)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class ChecklistTemplate(models.Model):
    """One imported version of a checklist template data file (checklists/<key>/vN.toml)."""

    key = models.SlugField(max_length=100)
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=300, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    # Ordered levels, lowest first and cumulative (portal.levels):
    # [{"key", "name", "requires": [{"key": item key, "effective_from": "YYYY-MM-DD" | null}]}]
    levels = models.JSONField(
        default=list, blank=True, db_default=models.Value([], output_field=models.JSONField())
    )
    # Service tier ("1", "2", "3") -> the level key a launch of that tier requires.
    tier_levels = models.JSONField(
        default=dict, blank=True, db_default=models.Value({}, output_field=models.JSONField())
    )
    # {"tiers": [...], "lifecycles": [...]}: an additional checklist every matching service
    # carries automatically (empty list: any tier / any lifecycle but retired). {}: none.
    applies_to = models.JSONField(
        default=dict, blank=True, db_default=models.Value({}, output_field=models.JSONField())
    )

    class Meta:
        ordering = ["key", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="template_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.key} v{self.version}"

    def applies(self, tier: int, lifecycle: str) -> bool:
        """Whether this template applies by itself to a service of ``tier``/``lifecycle``."""
        if not self.applies_to:
            return False
        tiers, lifecycles = self.applies_to.get("tiers", []), self.applies_to.get("lifecycles", [])
        if tiers and tier not in tiers:
            return False
        return lifecycle in lifecycles if lifecycles else lifecycle != "retired"


class TemplateSection(models.Model):
    template = models.ForeignKey(
        ChecklistTemplate, on_delete=models.CASCADE, related_name="sections"
    )
    key = models.SlugField(max_length=100)
    title = models.CharField(max_length=200)
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["template", "key"], name="section_unique_key")
        ]

    def __str__(self) -> str:
        return self.title


class TemplateItem(models.Model):
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    section = models.ForeignKey(TemplateSection, on_delete=models.CASCADE, related_name="items")
    key = models.CharField(max_length=150)
    title = models.CharField(max_length=300)
    guidance = models.TextField(blank=True)
    blocking = models.BooleanField(default=True)
    evidence_required = models.BooleanField(default=False)
    valid_days = models.PositiveIntegerField(default=90)
    # Every mapped check key, in template order, and what each proves: check key -> "verifies"
    # (its pass ticks the item, the gate requires it) or "supports" (evidence only). A key
    # without a role supports: nothing ticks an item unless the template says so.
    check_keys = models.JSONField(default=list, blank=True)
    check_roles = models.JSONField(default=dict, blank=True)
    position = models.PositiveIntegerField()
    # What the item counts in the score, and the day it starts counting ("upcoming" before).
    weight = models.PositiveSmallIntegerField(default=1, db_default=1)
    effective_from = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["section__position", "position"]
        constraints = [models.UniqueConstraint(fields=["template", "key"], name="item_unique_key")]

    def __str__(self) -> str:
        return self.key

    @property
    def verify_keys(self) -> list[str]:
        """The checks that prove this item (role ``verifies``)."""
        return [k for k in self.check_keys if self.check_roles.get(k) == "verifies"]

    @property
    def support_keys(self) -> list[str]:
        """The checks that are evidence only (role ``supports``)."""
        return [k for k in self.check_keys if self.check_roles.get(k) != "verifies"]


class RunbookStep(models.Model):
    template = models.ForeignKey(
        ChecklistTemplate, on_delete=models.CASCADE, related_name="runbook"
    )
    step = models.PositiveIntegerField()
    key = models.SlugField(max_length=100)
    title = models.CharField(max_length=200)
    guidance = models.TextField(blank=True)
    check_keys = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["step"]
        constraints = [
            models.UniqueConstraint(fields=["template", "step"], name="runbook_unique_step")
        ]

    def __str__(self) -> str:
        return f"{self.step}. {self.title}"


class Service(models.Model):
    class Tier(models.IntegerChoices):
        TIER_1 = 1, "Tier 1 (critical)"
        TIER_2 = 2, "Tier 2"
        TIER_3 = 3, "Tier 3"

    class Lifecycle(models.TextChoices):
        DEVELOPMENT = "development", "Development"
        STAGING = "staging", "Staging"
        PRODUCTION = "production", "Production"
        RETIRED = "retired", "Retired"

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.TIER_2)
    lifecycle = models.CharField(
        max_length=20, choices=Lifecycle.choices, default=Lifecycle.DEVELOPMENT
    )
    description = models.TextField(blank=True)
    repository_url = models.URLField(blank=True)
    staging_base_url = models.URLField(blank=True)
    template = models.ForeignKey(
        ChecklistTemplate, on_delete=models.PROTECT, related_name="services"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # From the software catalog (catalogsync/): the entity this service is, as
    # ``component:namespace/name``; empty for a service registered by hand. The catalog's own
    # words are kept as they are (its lifecycle is mapped onto ``lifecycle`` as well).
    catalog_ref = models.CharField(max_length=255, unique=True, null=True, blank=True)
    # Database defaults too: rows written by raw SQL (bench/generate.py) need not name them.
    catalog_lifecycle = models.CharField(max_length=63, blank=True, default="", db_default="")
    catalog_system = models.CharField(max_length=255, blank=True, default="", db_default="")
    catalog_links = models.JSONField(
        default=list, blank=True, db_default=models.Value([], output_field=models.JSONField())
    )
    catalog_source_location = models.CharField(
        max_length=500, blank=True, default="", db_default=""
    )
    # Set when the entity left the catalog: the service stays (with its history) until an
    # admin decides; cleared if the entity comes back.
    catalog_removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EvidenceFile(models.Model):
    """A file a team lead attached as evidence when ticking a checklist item.

    The bytes live outside the web root, in ``PREFLIGHT_EVIDENCE_DIR`` under ``stored_name``
    (random: the uploader's name never reaches the file system); ``content_type`` was sniffed
    from the bytes, never taken from the client. Rows are kept when the item moves on: the
    sign-off history links to them (portal/evidence_files.py, ``portal:evidence-file``)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="evidence_files")
    item_key = models.CharField(max_length=150)
    name = models.CharField(max_length=200)  # as uploaded, cleaned: the download's name
    stored_name = models.CharField(max_length=64, unique=True)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.service_id}: {self.item_key})"

    def audit_record(self) -> dict[str, object]:
        """What the audit event seals about the file: enough to recognise it, never its bytes."""
        return {
            "id": self.pk,
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
        }


class ItemState(models.Model):
    """Where one service stands on one checklist item.

    States: ``open`` → ``done`` | ``na`` (reason required); any → ``open`` (reopen);
    ``done`` → ``stale`` when the tick outlives the item's validity (daily task);
    an automated failure moves the item to ``failing``. ``version`` grows with every change
    and is how a second, concurrent save is detected and refused.

    States are matched to template items by ``item_key`` so that importing a newer template
    version keeps them; ``item`` points at the item of the service's current template
    (null when the key was removed from it).

    ``check_results`` is the latest automated result of each mapped check (and of CI facts,
    under ``ci-facts``), as runs report them: ``{key: {status, summary, source, url, at}}``.
    It outlives manual changes, so "this item's automated check is failing" stays known
    after a reopen. ``exempt_checks`` lists the failing checks an approved exemption
    lets the current done-tick stand over (the tick then expires with the exemption).
    """

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        NOT_APPLICABLE = "na", "Not applicable"
        FAILING = "failing", "Failing"
        STALE = "stale", "Stale"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="item_states")
    item = models.ForeignKey(
        TemplateItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="states"
    )
    item_key = models.CharField(max_length=150)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    note = models.TextField(blank=True)
    evidence_url = models.URLField(max_length=500, blank=True)
    # Evidence as text (a command's output, a ticket's words) or as a file; with the link,
    # each tick carries whichever the lead gave, and the next change replaces them.
    evidence_text = models.TextField(blank=True, default="", db_default="")
    evidence_file = models.ForeignKey(
        EvidenceFile, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    updated_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    check_results = models.JSONField(default=dict, blank=True)
    exempt_checks = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["service", "item_key"], name="state_unique_item")
        ]
        indexes = [models.Index(fields=["state", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.service}: {self.item_key} = {self.state}"

    @property
    def complete(self) -> bool:
        return self.state in (self.State.DONE, self.State.NOT_APPLICABLE)

    @property
    def failing_checks(self) -> list[str]:
        """The automated verdicts against this item that are failing now: its ``verifies``
        checks whose latest result is ``fail``, and failed CI facts. While any is, a person
        cannot mark the item done or not applicable without an approved exemption."""
        verifying = set(self.item.verify_keys) if self.item is not None else set()
        return [
            key
            for key, seen in self.check_results.items()
            if seen.get("status") == "fail" and (key in verifying or key == CI_FACTS)
        ]

    @property
    def evidence_checks(self) -> list[dict[str, object]]:
        """The mapped checks' latest results for the item's row, verifying ones first."""
        if self.item is None:
            return []
        rows = []
        for key in [*self.item.verify_keys, *self.item.support_keys, CI_FACTS]:
            seen = self.check_results.get(key)
            if seen is None and key == CI_FACTS:
                continue
            role = "verifies" if key == CI_FACTS else self.item.check_roles.get(key, "supports")
            rows.append({"key": key, "role": role, **(seen or {"status": "not run"})})
        return rows


class AppendOnlyError(ImmutableError):
    """Raised on any attempt to change or remove an audit event through the ORM."""


class AuditEventQuerySet(ImmutableQuerySet["AuditEvent"]):
    error = AppendOnlyError
    message = "audit events are append-only"


class AuditEvent(ImmutableModel):
    """One entry of the sign-off history. Append-only and chained under a key: ``hash`` is
    HMAC-SHA256, with the key named by ``key_id``, over every other column (see portal.audit)
    and ``prev_hash``, the hash of the entry before it. ``seq`` numbers the entries 1, 2, 3...
    with no gap; ``seq`` and ``prev_hash`` are unique, so two writers can never fork the
    chain. No ``actor`` means Preflight itself (the system actor), whatever ``actor_name``
    says."""

    class Action(models.TextChoices):
        TICK = "tick", "Marked done"
        NOT_APPLICABLE = "na", "Marked not applicable"
        REOPEN = "reopen", "Reopened"
        STALE = "stale", "Expired (stale)"
        VERIFIED = "verified", "Verified by a check"
        FAILED = "failed", "Failed a check"
        SERVICE_CREATED = "service_created", "Service registered"
        SERVICE_UPDATED = "service_updated", "Service details changed"
        SERVICE_MOVED = "service_moved", "Service moved to another team"
        ACCESS_CHANGED = "access_changed", "Teams or roles changed at sign-in"
        TEMPLATE_UPGRADED = "template_upgraded", "Template upgraded"
        PROFILE_CHANGED = "profile_changed", "Profile changed"
        LAUNCH_REQUESTED = "launch_requested", "Launch requested"
        LAUNCH_APPROVED = "launch_approved", "Launch approved"
        LAUNCH_REJECTED = "launch_rejected", "Launch rejected"
        LAUNCH_WITHDRAWN = "launch_withdrawn", "Launch withdrawn"
        EXEMPTION_REQUESTED = "exemption_requested", "Gate exemption requested"
        EXEMPTION_APPROVED = "exemption_approved", "Exemption approved"
        EXEMPTION_REJECTED = "exemption_rejected", "Exemption rejected"
        EXEMPTED = "exempted", "Marked done under an exemption"
        APPROVAL_INVALIDATED = "approval_invalidated", "Approval invalidated"
        FACTS_RECEIVED = "facts_received", "Facts received from CI"
        TOKEN_CREATED = "token_created", "API token created"
        TOKEN_REVOKED = "token_revoked", "API token revoked"
        DRILL_STARTED = "drill_started", "Drill started"
        DRILL_FINISHED = "drill_finished", "Drill finished"
        CAMPAIGN_CREATED = "campaign_created", "Campaign created"
        CAMPAIGN_REMINDED = "campaign_reminded", "Campaign reminder sent"

    seq = models.PositiveBigIntegerField(unique=True)
    key_id = models.CharField(max_length=32)
    created_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=30, choices=Action.choices)
    service = models.ForeignKey(
        Service, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_events"
    )
    service_slug = models.CharField(max_length=100, blank=True)
    team_slug = models.CharField(max_length=100, blank=True)
    item_key = models.CharField(max_length=150, blank=True)
    from_state = models.CharField(max_length=10, blank=True)
    to_state = models.CharField(max_length=10, blank=True)
    note = models.TextField(blank=True)
    evidence_url = models.CharField(max_length=500, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    objects: ClassVar[models.Manager[AuditEvent]] = AuditEventQuerySet.as_manager()
    immutable_error = AppendOnlyError
    immutable_message = AuditEventQuerySet.message

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["service", "id"]),
            models.Index(fields=["team_slug", "id"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.action} {self.service_slug} {self.item_key}"

    @property
    def is_system(self) -> bool:
        """Recorded by Preflight itself: decided by the actor id, never by the name."""
        return self.actor_id is None

    @property
    def actor_kind(self) -> str:
        """``system`` or ``user``: the column exports show beside the actor's name."""
        return "system" if self.is_system else "user"
