#!/usr/bin/env bash
# The whole suite: static checks, then the tests on SQLite (with coverage), then the ones that
# use the database again on PostgreSQL. Starts Redis and PostgreSQL when they are installed but not running, installs
# Debian's chromium for the browser tests and nodejs (with npm's oidc-provider) for the single
# sign-on tests when they are missing (root only).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export PREFLIGHT_ENV=test

say() { printf '\n=== %s\n' "$*"; }

ensure_services() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    if command -v redis-server >/dev/null; then
      say "starting redis-server on 127.0.0.1:6379"
      mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
      redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /tmp --logfile /tmp/preflight-redis.log
      sleep 1
    fi
  fi
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
      say "starting PostgreSQL"
      pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
      for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
  fi
}

ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
}

ensure_monitoring() {
  # Real Prometheus and Alertmanager for tests/e2e/test_alert_drill.py (skipped without them).
  if { ! command -v prometheus >/dev/null || ! command -v prometheus-alertmanager >/dev/null; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's prometheus and prometheus-alertmanager for the alert drill test"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
      prometheus prometheus-alertmanager >/dev/null
  fi
}

ensure_oidc_provider() {
  # Debian's nodejs runs the certified OpenID Provider (npm's oidc-provider, pinned in
  # tests/support/oidc/package-lock.json) for the single sign-on tests.
  if { ! command -v node >/dev/null || ! command -v npm >/dev/null; } \
    && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing Debian's nodejs and npm for the single sign-on tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
  fi
  if command -v npm >/dev/null && [ ! -f tests/support/oidc/node_modules/oidc-provider/package.json ]; then
    say "npm ci: oidc-provider for the single sign-on tests (tests/support/oidc)"
    (cd tests/support/oidc && npm ci --no-audit --no-fund --silent)
  fi
}

ensure_services
ensure_chromium
ensure_monitoring
ensure_oidc_provider

say "ruff (lint + format check) and the import contracts"
ruff check .
ruff format --check .
lint-imports --no-logo

say "mypy (django-stubs)"
mypy .

say "tests on SQLite, with coverage"
unset DATABASE_URL
pytest -p no:cacheprovider --cov --cov-report=term --durations=15 "$@"

PG_URL=${PREFLIGHT_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  # Only the tests that touch the database: the rest ran above and cannot differ here.
  say "tests on PostgreSQL ($PG_URL): the ones that use the database"
  DATABASE_URL="$PG_URL" PREFLIGHT_TESTS_DATABASE_ONLY=1 pytest -p no:cacheprovider "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable on 127.0.0.1:5432 and CI requires it" >&2
  exit 1
else
  say "SKIPPED: PostgreSQL not reachable on 127.0.0.1:5432 (CI runs this part)"
fi
