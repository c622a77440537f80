from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from catalogsync.models import CatalogEntity, CatalogSync, SyncChange, SyncRefusal
from core.admin import ReadOnlyAdmin


class ChangeInline(admin.TabularInline):
    model = SyncChange
    extra = 0
    can_delete = False
    readonly_fields = ("entity_ref", "action", "detail")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RefusalInline(admin.TabularInline):
    model = SyncRefusal
    extra = 0
    can_delete = False
    readonly_fields = ("where", "entity_ref", "reason")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CatalogSync)
class CatalogSyncAdmin(ReadOnlyAdmin):
    list_display = ("id", "source", "status", "trigger", "started_at", "entities_read", "counts")
    list_filter = ("status", "source")
    inlines = (ChangeInline, RefusalInline)


@admin.register(CatalogEntity)
class CatalogEntityAdmin(ReadOnlyAdmin):
    list_display = ("ref", "kind", "source", "team", "service", "removed_at")
    list_filter = ("kind", "source", ("removed_at", admin.EmptyFieldListFilter))
    search_fields = ("ref",)
