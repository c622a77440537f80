from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Launch reviews"

    def ready(self) -> None:
        # Imported here, not at the top: these modules read models, which load only after the
        # app registry.
        from checks.signals import run_finished
        from portal.signals import item_states_changed
        from reviews import receivers

        item_states_changed.connect(
            receivers.on_item_states_changed, dispatch_uid="reviews.invalidate_on_items"
        )
        run_finished.connect(receivers.on_run_finished, dispatch_uid="reviews.on_run_finished")
