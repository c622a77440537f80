from django.apps import AppConfig

from core.metrics import add_collector


class ChecksConfig(AppConfig):
    name = "checks"
    verbose_name = "Validation runs"

    def ready(self) -> None:
        # Imported here, not at the top: the collector reads models, which load only after
        # the app registry.
        from checks.metrics import RunCollector

        add_collector(RunCollector())
