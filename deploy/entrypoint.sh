#!/bin/sh
# Container entrypoint. `web` (the image's default command) starts gunicorn; any other command
# runs as given, so the same image runs `celery -A app worker`, `celery -A app beat`,
# `python manage.py migrate` and `python -m examples.reference_service`.
# exec: the server becomes PID 1 and receives SIGTERM itself (graceful shutdown).
set -eu

if [ "$#" -eq 0 ] || [ "$1" = "web" ]; then
  [ "$#" -gt 0 ] && shift
  # WEB_CONCURRENCY: processes (about 2 per CPU); WEB_THREADS: threads per process.
  # /dev/shm for worker heartbeats: the root filesystem may be read-only.
  # Prometheus multiprocess mode: every worker's counters summed at /metrics (app/metrics.py).
  PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/dev/shm/preflight-metrics}"
  rm -rf "$PROMETHEUS_MULTIPROC_DIR" && mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  export PROMETHEUS_MULTIPROC_DIR
  exec gunicorn app.wsgi:application \
    --config python:app.gunicorn_conf \
    --bind "${HOST:-0.0.0.0}:${PORT:-8000}" \
    --workers "${WEB_CONCURRENCY:-3}" \
    --threads "${WEB_THREADS:-2}" \
    --timeout "${WEB_TIMEOUT:-30}" \
    --graceful-timeout "${WEB_GRACEFUL_TIMEOUT:-25}" \
    --keep-alive 5 \
    --max-requests 2000 \
    --max-requests-jitter 200 \
    --worker-tmp-dir /dev/shm \
    --forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
    --access-logfile - \
    --error-logfile - \
    "$@"
fi

exec "$@"
