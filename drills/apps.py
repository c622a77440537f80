from django.apps import AppConfig

from checks.signals import target_built
from core.metrics import add_collector


class DrillsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drills"
    verbose_name = "Drills and alerts"

    def ready(self) -> None:
        # Imported here, not at the top: these read models, which load only after the app
        # registry.
        from drills.metrics import DrillCollector
        from drills.runtime import on_target_built

        add_collector(DrillCollector())
        # Drills build on validation runs: they lend each run's target their context through
        # the runs' hook, so the runs app never imports drills.
        target_built.connect(on_target_built, dispatch_uid="drills.attach")
