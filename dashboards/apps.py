from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


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
        # Level standings are dropped when what they were computed from changes; the next
        # read recomputes them (dashboards.selectors.levels.standings).
        from portal.models import Service
        from portal.signals import item_states_changed
        from reviews.models import Exemption

        item_states_changed.connect(summary.drop_standing, dispatch_uid="dashboards-levels-items")
        post_save.connect(
            summary.drop_standing_of_service, sender=Service, dispatch_uid="dashboards-levels-svc"
        )
        for signal in (post_save, post_delete):
            signal.connect(
                summary.drop_standing_of_exemption,
                sender=Exemption,
                dispatch_uid=f"dashboards-levels-exemption-{signal is post_save}",
            )
