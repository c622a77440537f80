# syntax=docker/dockerfile:1.7
# Preflight: one image for the web server (default command), the Celery worker and beat
# (`celery -A app worker|beat` as the command) and the reference service
# (`python -m examples.reference_service`). No secret is baked in: every secret comes from
# the environment at run time (compose: .env, Kubernetes: the preflight-secrets Secret).

# ---- builder: a virtualenv with the pinned runtime dependencies only ----------------------
FROM python:3.11-slim-bookworm AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only pyproject.toml: the dependency layer is rebuilt when the pins change, not on every edit.
COPY pyproject.toml ./
# [project].dependencies are exact pins; the test extras stay out of the image.
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(deps))" > requirements.txt \
 && pip install -r requirements.txt

# ---- runtime: the venv and the application, nothing else -----------------------------------
FROM python:3.11-slim-bookworm AS runtime

ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="preflight" \
      org.opencontainers.image.description="Production-readiness portal: web, Celery worker and beat in one image" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/example/preflight" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    DJANGO_SETTINGS_MODULE=app.settings \
    PREFLIGHT_ENV=production \
    PREFLIGHT_VAR_DIR=/var/lib/preflight \
    PORT=8000

# git: the repository checks (checks/catalog/repo) clone with the real git client.
RUN apt-get update \
 && apt-get install -y --no-install-recommends git \
 && rm -rf /var/lib/apt/lists/*

# A fixed numeric UID/GID so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 preflight \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin preflight \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/preflight

COPY --from=builder /opt/venv /opt/venv
WORKDIR /app
# Owned by root and not writable by the app user: the running process cannot change its code.
COPY . /app

# Static files are collected at build time with PREFLIGHT_ENV=production. Settings refuse to
# load without keys, so this one command gets random throwaway ones that live only in its own
# environment: they are never written to a layer, an ENV or an ARG.
RUN DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    PREFLIGHT_SECRET_KEYS="$(python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    PREFLIGHT_AUDIT_KEYS="$(python -c 'import secrets; print(secrets.token_urlsafe(32))')" \
    DJANGO_ALLOWED_HOSTS=build.invalid \
    DATABASE_URL=sqlite:////tmp/preflight-build/build.sqlite3 \
    PREFLIGHT_VAR_DIR=/tmp/preflight-build \
    python manage.py collectstatic --noinput --verbosity 0

# Bytecode compiled now (the venv's by pip): the root filesystem is read-only at run time.
RUN rm -rf /tmp/preflight-build \
 && python -m compileall -q /app \
 && chmod 0755 /app/deploy/entrypoint.sh

USER 10001:10001
EXPOSE 8000

# Liveness of the web server; slim has no curl, so a stdlib Python probe. Compose and
# Kubernetes override or disable it for the worker and beat, which serve no HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
# `web` = gunicorn app.wsgi:application --bind 0.0.0.0:8000 --workers ... --access-logfile -
CMD ["web"]
