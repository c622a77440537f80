"""Campaigns: a readiness goal for many services at once, with a deadline and an owner."""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.db import models

from portal.models import Team


class Campaign(models.Model):
    """Every service in scope reaches the target between ``starts_on`` and ``due_on``.

    Scope: services on the template ``template_key`` whose tier is in ``tiers``, team in
    ``teams`` and lifecycle in ``lifecycles`` (an empty list or set: any; retired services
    only when ``lifecycles`` names ``retired``). Target: the level ``target_level`` of that
    template (and the levels below it), and every item of ``target_items`` complete, and
    every check of ``target_checks`` passing in its latest result; any of the three may be
    empty, not all.

    The state follows the calendar and the services (:meth:`state`): ``upcoming`` before
    ``starts_on``; then ``active``; ``overdue`` after ``due_on`` while a service in scope
    is not there; ``done`` once every service is. Reminders (:class:`CampaignReminder`) go
    to each team with services in scope when it starts, weekly while its services are
    behind, and once when it is overdue."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="campaigns_owned"
    )
    template_key = models.SlugField(max_length=100)
    target_level = models.CharField(max_length=50, blank=True)
    target_items = models.JSONField(default=list, blank=True)
    target_checks = models.JSONField(default=list, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    lifecycles = models.JSONField(default=list, blank=True)
    teams = models.ManyToManyField(Team, blank=True, related_name="campaigns")
    starts_on = models.DateField()
    due_on = models.DateField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "name"]

    def __str__(self) -> str:
        return self.name

    def calendar_state(self, today: date) -> str:
        """``upcoming``, ``active`` or ``overdue`` by the calendar alone."""
        if today < self.starts_on:
            return "upcoming"
        return "overdue" if today > self.due_on else "active"

    @property
    def target_text(self) -> str:
        parts = []
        if self.target_level:
            parts.append(f"level {self.target_level.capitalize()}")
        if self.target_items:
            parts.append(f"{len(self.target_items)} item(s): {', '.join(self.target_items)}")
        if self.target_checks:
            parts.append(f"{len(self.target_checks)} check(s): {', '.join(self.target_checks)}")
        return " and ".join(parts)

    @property
    def scope_text(self) -> str:
        tiers = ", ".join(f"tier {t}" for t in self.tiers) or "every tier"
        lifecycles = ", ".join(self.lifecycles) or "every lifecycle but retired"
        return f"{tiers}; {lifecycles}; on {self.template_key}"


class CampaignReminder(models.Model):
    """One reminder sent to one team: at the start, weekly (``period`` the ISO week) while
    the team's services are behind, once when overdue. The unique constraint makes sending
    idempotent: a beat task run twice sends nothing twice."""

    class Kind(models.TextChoices):
        START = "start", "Campaign started"
        WEEKLY = "weekly", "Weekly reminder"
        OVERDUE = "overdue", "Campaign overdue"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="reminders")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="campaign_reminders")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    period = models.CharField(max_length=10, blank=True)
    sent_at = models.DateTimeField()
    behind = models.PositiveIntegerField(default=0)
    in_scope = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "team", "kind", "period"], name="campaign_reminder_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign} → {self.team}: {self.kind} {self.period}".strip()
