from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from core.admin import ReadOnlyAdmin
from portal import services
from portal.models import (
    AuditEvent,
    ChecklistTemplate,
    ItemState,
    Membership,
    Service,
    Team,
    TemplateItem,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "tier", "lifecycle", "template"]
    list_filter = ["team", "tier", "lifecycle"]
    search_fields = ["name", "slug"]
    # Item states change through the checklist (which writes the audit log), not here.
    readonly_fields = ["template"]

    def save_model(self, request: HttpRequest, obj: Service, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.sync_checklists(obj)  # a new tier or lifecycle may bring a checklist


@admin.register(ChecklistTemplate)
class ChecklistTemplateAdmin(admin.ModelAdmin):
    list_display = ["key", "version", "name", "imported_at"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(TemplateItem)
class TemplateItemAdmin(admin.ModelAdmin):
    list_display = ["key", "template", "blocking", "evidence_required", "valid_days"]
    list_filter = ["template", "blocking"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ItemState)
class ItemStateAdmin(admin.ModelAdmin):
    list_display = ["service", "item_key", "state", "updated_by", "updated_at", "expires_at"]
    list_filter = ["state", "service__team"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Read-only: the sign-off history has no change or delete path."""

    list_display = [
        "id",
        "seq",
        "created_at",
        "actor_name",
        "actor_kind",
        "action",
        "service_slug",
        "item_key",
    ]
    list_filter = ["action", "team_slug"]
    search_fields = ["service_slug", "item_key", "actor_name"]
