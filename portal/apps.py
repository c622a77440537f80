from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Readiness portal"

    def ready(self) -> None:
        # Models load only after the app registry: hence the imports here.
        from django.contrib.auth import get_user_model

        from portal.actors import install_guards

        install_guards(get_user_model())
