"""Write operations of the checks app, one module per concern: ``runs`` (request, dispatch,
execute, sweep, re-run), ``profiles`` (staging profiles and their secrets) and ``schedules``
(per-service schedules in django-celery-beat). Reads are in ``checks.selectors``."""
