from django.apps import AppConfig


class CatalogSyncConfig(AppConfig):
    name = "catalogsync"
    verbose_name = "Software catalog import"

    def ready(self) -> None:
        # Settings are read only once the app registry is ready: hence the import here.
        from catalogsync.secrets import register_secrets

        register_secrets()
