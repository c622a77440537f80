from django.apps import AppConfig
from django.db.models.signals import post_save


class DashboardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "dashboards"

    def ready(self) -> None:
        # Imported here, not at the top: models load only after the app registry.
        from checks.models import CheckResult
        from dashboards import summary

        # The summary follows every result as it is written, wherever it is written from
        # (a run, a re-run, a drill), without the writers having to know about dashboards.
        post_save.connect(
            summary.on_result_saved, sender=CheckResult, dispatch_uid="dashboards-summary"
        )
