"""Preflight settings. Every value comes from the environment through the typed helpers in
app.env; see .env.example for the full list. PREFLIGHT_ENV selects the profile:
``dev`` (default, `make run`), ``test`` (the suite) or ``production``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from app.env import envbool, envint, envlist, envpairs, envstr
from checks.engine.policy_env import default_allow_local_repos, default_allowlist

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("PREFLIGHT_VAR_DIR", str(BASE_DIR / "var")))

PREFLIGHT_ENV = envstr("PREFLIGHT_ENV", "dev")
if PREFLIGHT_ENV not in {"dev", "test", "production"}:
    raise ImproperlyConfigured(f"PREFLIGHT_ENV={PREFLIGHT_ENV!r}: use dev, test or production")
PRODUCTION = PREFLIGHT_ENV == "production"

# No secret has a default. Outside production an ephemeral random key is acceptable (sessions
# simply end when the process restarts); `make run` writes a persistent one to var/dev.env.
SECRET_KEY = envstr("DJANGO_SECRET_KEY", None if PRODUCTION else secrets.token_urlsafe(50))
# Keys for secrets at rest (checks.secrets), newest first. Outside production an ephemeral
# key is generated; `make run` keeps one in var/dev.env.
PREFLIGHT_SECRET_KEYS = envlist(
    "PREFLIGHT_SECRET_KEYS", "" if PRODUCTION else Fernet.generate_key().decode()
)
if not PREFLIGHT_SECRET_KEYS:
    raise ImproperlyConfigured("PREFLIGHT_SECRET_KEYS is required (comma-separated Fernet keys)")
# Keys of the audit chain (portal.audit): HMAC-SHA256 secrets, newest first, comma-separated.
# New rows and checkpoints are sealed with the first; older ones still verify the rows they
# sealed. Never stored in the database. Outside production an ephemeral key is generated;
# `make run` keeps one in var/dev.env.
PREFLIGHT_AUDIT_KEYS = envlist(
    "PREFLIGHT_AUDIT_KEYS", "" if PRODUCTION else secrets.token_urlsafe(32)
)
if not PREFLIGHT_AUDIT_KEYS:
    raise ImproperlyConfigured("PREFLIGHT_AUDIT_KEYS is required (comma-separated HMAC keys)")
# Signed checkpoints of the audit chain's head are appended here (one JSON line each) and to
# the log stream: point it at append-only (WORM) storage in production (README).
PREFLIGHT_AUDIT_CHECKPOINT_PATH = Path(
    envstr("PREFLIGHT_AUDIT_CHECKPOINT_PATH", str(VAR_DIR / "audit-checkpoints.jsonl"))
)
PREFLIGHT_AUDIT_CHECKPOINT_INTERVAL_S = envint("PREFLIGHT_AUDIT_CHECKPOINT_INTERVAL_S", "300")
# Where checks may send requests (hosts, IPs, CIDRs); metadata addresses are always refused.
# The CLI reads the same two variables without Django, with the same defaults
# (checks/engine/policy_env.py).
PREFLIGHT_OUTBOUND_ALLOWLIST = envlist(
    "PREFLIGHT_OUTBOUND_ALLOWLIST", default_allowlist(PRODUCTION)
)
# Whether repository checks may clone local paths / file:// URLs (reads the worker's disk).
PREFLIGHT_ALLOW_LOCAL_REPOS = envbool(
    "PREFLIGHT_ALLOW_LOCAL_REPOS", default_allow_local_repos(PRODUCTION)
)
PREFLIGHT_RUN_DEADLINE_S = envint("PREFLIGHT_RUN_DEADLINE_S", "900")
PREFLIGHT_DISPATCH_RETRY_S = envint("PREFLIGHT_DISPATCH_RETRY_S", "30")
PREFLIGHT_DISPATCH_MAX_ATTEMPTS = envint("PREFLIGHT_DISPATCH_MAX_ATTEMPTS", "10")
# A run's execution renews its lease (heartbeat) every quarter of this; a run whose lease
# expired lost its worker and is sent again by the sweeper, up to this many executions.
PREFLIGHT_RUN_LEASE_S = envint("PREFLIGHT_RUN_LEASE_S", "40")
PREFLIGHT_RUN_MAX_EXECUTIONS = envint("PREFLIGHT_RUN_MAX_EXECUTIONS", "3")
# How often beat sends the run and discovery sweepers (on their own queue, below).
PREFLIGHT_SWEEP_INTERVAL_S = envint("PREFLIGHT_SWEEP_INTERVAL_S", "30")
# At most this many runs at once against one staging host (host:port); 0: no cap.
PREFLIGHT_RUNS_PER_HOST = envint("PREFLIGHT_RUNS_PER_HOST", "2")
# Scheduled runs are spread over this many minutes after their cron time (by service).
PREFLIGHT_SCHEDULE_SPREAD_MIN = envint("PREFLIGHT_SCHEDULE_SPREAD_MIN", "120")
# "Add a service from its staging URL": a discovery running longer is failed by the sweeper;
# a draft left unsaved this long expires and its probe secrets are dropped.
PREFLIGHT_DISCOVERY_DEADLINE_S = envint("PREFLIGHT_DISCOVERY_DEADLINE_S", "300")
PREFLIGHT_DISCOVERY_KEEP_H = envint("PREFLIGHT_DISCOVERY_KEEP_H", "24")
PREFLIGHT_BASE_URL = envstr("PREFLIGHT_BASE_URL", "http://127.0.0.1:8000")
# Drills (drills/): Alertmanager's bearer token for /hooks/alertmanager (no default: unset,
# the webhook refuses everything); a drill silent this long is restored by the sweeper.
PREFLIGHT_ALERTMANAGER_TOKEN = envstr("PREFLIGHT_ALERTMANAGER_TOKEN", "")
PREFLIGHT_DRILL_STALE_S = envint("PREFLIGHT_DRILL_STALE_S", "60")
PREFLIGHT_DRILL_RESTORE_ATTEMPTS = envint("PREFLIGHT_DRILL_RESTORE_ATTEMPTS", "5")
# Launch reviews (reviews/): the gate, approvals, exemptions, facts from CI, the API.
PREFLIGHT_GATE_RUN_MAX_AGE_DAYS = envint("PREFLIGHT_GATE_RUN_MAX_AGE_DAYS", "7")
PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS = envint("PREFLIGHT_GATE_DRILL_MAX_AGE_DAYS", "30")
PREFLIGHT_APPROVALS_TIER1 = envint("PREFLIGHT_APPROVALS_TIER1", "2")
PREFLIGHT_APPROVALS_OTHER = envint("PREFLIGHT_APPROVALS_OTHER", "1")
PREFLIGHT_EXEMPTION_MAX_DAYS = envint("PREFLIGHT_EXEMPTION_MAX_DAYS", "30")
PREFLIGHT_COVERAGE_MIN = envint("PREFLIGHT_COVERAGE_MIN", "80")
# Findings of this severity or below are tolerated (info, low, medium or high).
PREFLIGHT_FACTS_MAX_SEVERITY = envstr("PREFLIGHT_FACTS_MAX_SEVERITY", "low")
PREFLIGHT_IDEMPOTENCY_TTL_HOURS = envint("PREFLIGHT_IDEMPOTENCY_TTL_HOURS", "24")
# The software catalog (catalogsync/, docs/catalog.md): where services, teams and owners come
# from. Each source is a Backstage catalog API (https://backstage.example.com/api/catalog), a git
# repository (git+https://..., git+ssh://..., "#ref" at the end) or a local directory or file.
PREFLIGHT_CATALOG_SOURCES = envlist("PREFLIGHT_CATALOG_SOURCES")
# Bearer token for a Backstage catalog API (from the environment only; never shown or logged).
PREFLIGHT_CATALOG_TOKEN = envstr("PREFLIGHT_CATALOG_TOKEN", "")
PREFLIGHT_CATALOG_SYNC_MINUTES = envint("PREFLIGHT_CATALOG_SYNC_MINUTES", "60")
# The checklist template new services start on (the latest imported version of this key).
PREFLIGHT_CATALOG_TEMPLATE = envstr("PREFLIGHT_CATALOG_TEMPLATE", "fastapi-mongo")
# The catalog's web UI, for links from a service page to its entity (empty: no link).
PREFLIGHT_CATALOG_UI_URL = envstr("PREFLIGHT_CATALOG_UI_URL", "").rstrip("/")
PREFLIGHT_CATALOG_MAX_ENTITIES = envint("PREFLIGHT_CATALOG_MAX_ENTITIES", "20000")
EMAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    {
        "test": "django.core.mail.backends.locmem.EmailBackend",
        "dev": "django.core.mail.backends.console.EmailBackend",
    }.get(PREFLIGHT_ENV, "django.core.mail.backends.smtp.EmailBackend"),
)
EMAIL_HOST = envstr("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", "25")
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "preflight@localhost")

DEBUG = envbool("DJANGO_DEBUG", "0")
# Secrets marked sensitive stay hidden from error reports and from the DEBUG page alike.
DEFAULT_EXCEPTION_REPORTER_FILTER = "core.debug.AlwaysSafeExceptionReporterFilter"
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "" if PRODUCTION else "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "portal",
    "checks",
    "dashboards",
    "reviews",
    "campaigns",
    "api",
    "drills",
    "sso",
    "catalogsync",
    "bench",  # manage.py generate_large_dataset (benchmark data); no models, no URLs
]

MIDDLEWARE = [
    "app.requestid.RequestIdMiddleware",
    "core.metrics.MetricsMiddleware",
    "app.security.RequestSizeLimitMiddleware",
    "app.security.NulByteGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "app.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "app.requestid.UserIdMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns lockouts into responses.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "app.urls"
WSGI_APPLICATION = "app.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        # Production must name its database: no silent SQLite fallback there.
        envstr(
            "DATABASE_URL", None if PRODUCTION else f"sqlite:///{VAR_DIR / 'preflight.sqlite3'}"
        ),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "60"),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # WAL lets the web server, the worker and beat read while one of them writes.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    if PREFLIGHT_ENV == "test":
        # A file, not memory: the real Celery worker process in the suite must see it.
        DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",  # verifies older hashes, then upgrades
]
if PREFLIGHT_ENV == "test":
    # Hashing cost is not what the suite measures (production settings are tested apart).
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Login throttling (django-axes): lock a username + address pair after repeated failures.
# Sign-ins through the OpenID Provider pass the same backend first (sso/views.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "sso.backends.LocalPasswordBackend",
    "sso.backends.OIDCBackend",
]
# Off by default in the suite only (Client.login bypasses requests); tests enable it.
AXES_ENABLED = envbool("AXES_ENABLED", "0" if PREFLIGHT_ENV == "test" else "1")
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", "15") / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
# Adds Retry-After; keeps the API login's own 429 in the error format (app/errors.py).
AXES_LOCKOUT_CALLABLE = "core.errors.lockout_response"

# Local passwords (the sign-in form, the API login): ``all`` accounts, only the
# ``breakglass`` accounts named in PREFLIGHT_BREAKGLASS_USERS, or ``off``.
PREFLIGHT_LOCAL_PASSWORDS = envstr("PREFLIGHT_LOCAL_PASSWORDS", "all") or "all"
if PREFLIGHT_LOCAL_PASSWORDS not in {"all", "breakglass", "off"}:
    raise ImproperlyConfigured("PREFLIGHT_LOCAL_PASSWORDS: use all, breakglass or off")
PREFLIGHT_BREAKGLASS_USERS = envlist("PREFLIGHT_BREAKGLASS_USERS")

# Single sign-on through an OpenID Provider (sso/, docs/sso.md): off while the issuer is empty.
# The code flow with PKCE and a nonce (mozilla-django-oidc); discovery, JWKS and every other
# request to the provider go through the guarded client, so the provider's host must be in
# PREFLIGHT_OUTBOUND_ALLOWLIST.
PREFLIGHT_OIDC_ISSUER = envstr("PREFLIGHT_OIDC_ISSUER", "").rstrip("/")
PREFLIGHT_OIDC_NAME = envstr("PREFLIGHT_OIDC_NAME", "single sign-on")
OIDC_RP_CLIENT_ID = envstr("PREFLIGHT_OIDC_CLIENT_ID", "")
# No default: from the environment only; scrubbed from every log line, never shown.
OIDC_RP_CLIENT_SECRET = envstr("PREFLIGHT_OIDC_CLIENT_SECRET", "")
OIDC_RP_SCOPES = envstr("PREFLIGHT_OIDC_SCOPES", "openid email profile groups")
# client_secret_basic, client_secret_post, or none (a public client: PKCE alone)
PREFLIGHT_OIDC_TOKEN_AUTH = envstr(
    "PREFLIGHT_OIDC_TOKEN_AUTH", "client_secret_basic" if OIDC_RP_CLIENT_SECRET else "none"
)
if PREFLIGHT_OIDC_TOKEN_AUTH not in {"client_secret_basic", "client_secret_post", "none"}:
    raise ImproperlyConfigured(
        "PREFLIGHT_OIDC_TOKEN_AUTH: use client_secret_basic, client_secret_post or none"
    )
PREFLIGHT_OIDC_USERNAME_CLAIM = envstr("PREFLIGHT_OIDC_USERNAME_CLAIM", "preferred_username")
PREFLIGHT_OIDC_GROUPS_CLAIM = envstr("PREFLIGHT_OIDC_GROUPS_CLAIM", "groups")
# Provider group -> Preflight team and role: "idp-group=team-slug[:lead|member],...". Teams named
# here are managed by sign-in: membership follows the groups at every sign-in.
PREFLIGHT_OIDC_TEAM_GROUPS = envpairs("PREFLIGHT_OIDC_TEAM_GROUPS")
for _group, _target in PREFLIGHT_OIDC_TEAM_GROUPS:
    if _target.partition(":")[2] not in {"", "lead", "member"}:
        raise ImproperlyConfigured(
            f"PREFLIGHT_OIDC_TEAM_GROUPS: {_group}={_target}: the role is lead or member"
        )
# Provider groups whose members are reviewers (empty: the reviewers group is left alone).
PREFLIGHT_OIDC_REVIEWER_GROUPS = envlist("PREFLIGHT_OIDC_REVIEWER_GROUPS")
PREFLIGHT_OIDC_ALGORITHMS = envlist("PREFLIGHT_OIDC_ALGORITHMS", "RS256,PS256,ES256")
PREFLIGHT_OIDC_LEEWAY_S = envint("PREFLIGHT_OIDC_LEEWAY_S", "60")
PREFLIGHT_OIDC_TIMEOUT_S = envint("PREFLIGHT_OIDC_TIMEOUT_S", "10")
# A CA bundle for a provider behind a private CA (empty: the public roots).
PREFLIGHT_OIDC_CA_FILE = envstr("PREFLIGHT_OIDC_CA_FILE", "")
# How long the discovery document and the keys are trusted before they are fetched again; an
# unknown key id fetches the keys at once (no more often than every JWKS_MIN_REFRESH_S).
PREFLIGHT_OIDC_DISCOVERY_TTL_S = envint("PREFLIGHT_OIDC_DISCOVERY_TTL_S", "3600")
PREFLIGHT_OIDC_JWKS_TTL_S = envint("PREFLIGHT_OIDC_JWKS_TTL_S", "300")
PREFLIGHT_OIDC_JWKS_MIN_REFRESH_S = envint("PREFLIGHT_OIDC_JWKS_MIN_REFRESH_S", "5")
# mozilla-django-oidc's own settings (the library builds the request and keeps the states).
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_PKCE_CODE_CHALLENGE_METHOD = "S256"
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
OIDC_OP_LOGOUT_URL_METHOD = "sso.views.provider_logout_url"

LOGIN_URL = "login"
# "/" sends a signed-in user to their team's dashboard (portal.views.home).
LOGIN_REDIRECT_URL = "portal:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production whitenoise serves straight from the finders: no collectstatic needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000")
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "1")
    # Probes come over plain HTTP inside the cluster.
    SECURE_REDIRECT_EXEMPT = [r"^health$", r"^ready$", r"^metrics$", r"^hooks/alertmanager$"]
    if envbool("SECURE_PROXY_SSL_HEADER", "0"):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Request bodies: Django's own cap on form data, and a hard 413 above our limit.
PREFLIGHT_MAX_REQUEST_BYTES = envint("PREFLIGHT_MAX_REQUEST_BYTES", str(1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = PREFLIGHT_MAX_REQUEST_BYTES
# Files attached as checklist evidence (portal/evidence_files.py): kept outside the web root
# under random names, served only to signed-in users as downloads. The item form's upload may
# exceed PREFLIGHT_MAX_REQUEST_BYTES up to this size (app.security); the type is sniffed
# from the bytes and must be one of PREFLIGHT_EVIDENCE_TYPES.
PREFLIGHT_EVIDENCE_DIR = Path(envstr("PREFLIGHT_EVIDENCE_DIR", str(VAR_DIR / "evidence")))
PREFLIGHT_EVIDENCE_MAX_BYTES = envint("PREFLIGHT_EVIDENCE_MAX_BYTES", str(5 * 1024 * 1024))
PREFLIGHT_EVIDENCE_TYPES = envlist(
    "PREFLIGHT_EVIDENCE_TYPES",
    "application/pdf,image/png,image/jpeg,image/gif,text/plain,application/json",
)
# Optional bearer token for /metrics (empty: open, for a scraper inside the network).
PREFLIGHT_METRICS_TOKEN = envstr("PREFLIGHT_METRICS_TOKEN", "")

# Celery: Redis in production and tests; `make run` falls back to the filesystem transport
# (no server needed) when no Redis answers. Results are not stored: the portal's own rows are.
CELERY_BROKER_URL = envstr(
    "CELERY_BROKER_URL",
    "redis://127.0.0.1:6379/15" if PREFLIGHT_ENV == "test" else "redis://127.0.0.1:6379/0",
)
# The suite's own queue, so a worker left running by `make run` never takes its tasks.
CELERY_TASK_DEFAULT_QUEUE = envstr(
    "CELERY_TASK_DEFAULT_QUEUE",
    f"preflight-test-{os.getpid()}" if PREFLIGHT_ENV == "test" else "celery",
)
# The sweepers have their own queue, so they never wait behind the runs they clear; every
# worker consumes both (`--queues celery,celery-sweep`; README, "Scaling workers").
CELERY_SWEEP_QUEUE = envstr("CELERY_SWEEP_QUEUE", f"{CELERY_TASK_DEFAULT_QUEUE}-sweep")
CELERY_TASK_ROUTES = {
    name: {"queue": CELERY_SWEEP_QUEUE}
    for name in (
        "checks.tasks.sweep_runs",
        "checks.tasks.sweep_discoveries",
        "drills.tasks.sweep_drills",
    )
}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = Path(envstr("CELERY_BROKER_FILESYSTEM_DIR", str(VAR_DIR / "broker")))
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # The exchange → queue tables; kombu's default is "control" in the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
    }
else:
    # Fail fast when Redis is down instead of hanging a web request on enqueue. A message
    # taken by a worker that died (kill -9) goes back to the queue after the visibility
    # timeout: longer than any task may run (the run and discovery deadlines), not Redis'
    # default hour. The sweeper re-sends a run whose lease expired well before that.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "visibility_timeout": max(PREFLIGHT_RUN_DEADLINE_S, PREFLIGHT_DISCOVERY_DEADLINE_S)
        + PREFLIGHT_RUN_LEASE_S,
    }
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "expire-stale-items": {
        "task": "portal.tasks.expire_stale_items",
        "schedule": crontab(hour=3, minute=15),
    },
    "sweep-runs": {
        "task": "checks.tasks.sweep_runs",
        "schedule": float(PREFLIGHT_SWEEP_INTERVAL_S),
    },
    "sweep-discoveries": {
        "task": "checks.tasks.sweep_discoveries",
        "schedule": float(PREFLIGHT_SWEEP_INTERVAL_S),
    },
    "sweep-drills": {"task": "drills.tasks.sweep_drills", "schedule": 20.0},
    "audit-checkpoint": {
        "task": "portal.tasks.publish_audit_checkpoint",
        "schedule": float(PREFLIGHT_AUDIT_CHECKPOINT_INTERVAL_S),
    },
    # Approvals that time alone undid (an exemption expired): invalidated with the reason.
    "recheck-approvals": {"task": "reviews.tasks.recheck_approvals", "schedule": 300.0},
    "campaign-reminders": {"task": "campaigns.tasks.send_reminders", "schedule": 3600.0},
    # A no-op while PREFLIGHT_CATALOG_SOURCES is empty.
    "catalog-sync": {
        "task": "catalogsync.tasks.sync_catalog",
        "schedule": PREFLIGHT_CATALOG_SYNC_MINUTES * 60.0,
    },
}

# One JSON object per line (request_id, user_id, trace ids); LOG_FORMAT=text for humans.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "app.jsonlog.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    # Every handler scrubs the secrets of the runs in progress (checks/engine/scrub.py).
    "filters": {"scrub_secrets": {"()": "checks.engine.scrub.ScrubFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": envstr("LOG_FORMAT", "json"),
            "filters": ["scrub_secrets"],
        }
    },
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # Signed checkpoints of the audit chain are evidence: logged whatever LOG_LEVEL says.
        "preflight.audit": {"level": "INFO"},
    },
}
# Workers log through the same configuration (JSON, with the request id of the enqueuer).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
