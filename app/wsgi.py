import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "app.settings")
application = get_wsgi_application()

from app.tracing import configure_tracing  # noqa: E402 - needs settings loaded

configure_tracing("preflight-web")
