from django.apps import AppConfig


class DrillsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drills"
    verbose_name = "Drills and alerts"

    def ready(self) -> None:
        # Imported here, not at the top: the collector reads models, which load only after
        # the app registry.
        from core.metrics import add_collector
        from drills.metrics import DrillCollector

        add_collector(DrillCollector())
