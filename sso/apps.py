from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        # Settings are read only once the app registry is ready: hence the import here.
        from sso.secrets import register_secrets

        register_secrets()
