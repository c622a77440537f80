"""One line per check: what to change in the service when the check fails.

Data, not code: the run page shows the hint beside a failed (or errored) result. One entry per
registered key (a test keeps them in step with ``REGISTRY``); a hint says what to fix in the
service or its profile, never more than the check proves. Nothing here imports Django.
"""

from __future__ import annotations

HINTS: dict[str, str] = {
    "smoke.health": "Serve GET /health (or the profile's paths.health) with 200 while the "
    "process is up, without touching the database.",
    "smoke.ping_db": "Make GET /ping-db (paths.ping_db) run a real database ping and answer 200; "
    "check the service's MongoDB URI and network access from staging.",
    "smoke.crud_cycle": "Follow the failing step in the evidence: create must answer 201 with "
    "the item, reads must return what was written, and a read after delete must answer 404.",
    "api.cursor_pagination": "Page with an opaque cursor over a unique, stable sort key "
    "(e.g. created_at plus _id), return next_cursor = null on the last page, and never use "
    "skip/offset.",
    "api.error_format": 'Answer 401, 404 and validation errors (422) with {"error": {"code", '
    '"message", "details"}} from one exception handler.',
    "api.openapi": "Publish a valid OpenAPI 3 document at /openapi.json (paths.openapi) that "
    "lists every route the service offers.",
    "api.deprecation": "Send a Deprecation header (and Sunset with the removal date) on every "
    "operation marked deprecated in the OpenAPI document.",
    "auth.jwt_flow": "Issue access + refresh tokens with exp within the allowed lifetime, rotate "
    "refresh tokens (reject reuse), answer 403 for a missing scope and 401 for bad tokens.",
    "auth.otp_flow": "Accept a valid TOTP once, refuse a wrong code, and refuse the same code "
    "used a second time within its window.",
    "security.rate_limit": "Limit login and OTP attempts per client: answer 429 with a "
    "Retry-After header once the limit is hit.",
    "security.cors": "Replace the CORS wildcard with an explicit list of allowed origins; never "
    "echo an unknown Origin in Access-Control-Allow-Origin.",
    "security.tls": "Redirect plain HTTP to HTTPS and send Strict-Transport-Security with "
    "max-age of at least 15552000 (180 days).",
    "security.headers": "Add Content-Security-Policy, X-Frame-Options (or CSP frame-ancestors), "
    "X-Content-Type-Options: nosniff and Referrer-Policy to every response.",
    "security.request_limits": "Cap request bodies (at the proxy or in the app) and answer 413 "
    "above the cap before reading the body.",
    "reliability.idempotency": "Store the first response per Idempotency-Key and replay it for "
    "the same body; answer 409 or 422 when the key comes back with a different body.",
    "observability.request_id": "Generate an X-Request-ID for every request, echo the one a "
    "client sends, and log it on every line.",
    "observability.metrics": "Expose /metrics in Prometheus text format with a request latency "
    "histogram, error counters and cache hit/miss counters.",
    "db.index_usage": "Create an index for each hot query the evidence shows doing a COLLSCAN "
    "(the filter fields, in equality-sort-range order).",
    "db.compound_index_sort": "Create one compound index covering the filter and then the sort "
    "fields so the plan has no blocking SORT stage.",
    "db.ttl_indexes": "Add a TTL index (expireAfterSeconds) on the timestamp field of each "
    "short-lived collection the evidence names.",
    "db.write_concern": "Run MongoDB as a replica set and set the cluster-wide default write "
    'concern to majority (setDefaultRWConcern {w: "majority"}).',
    "repo.dockerfile_multistage": "Build in one stage and copy the result into a final stage "
    "FROM a slim or distroless base image.",
    "repo.dockerfile_nonroot": "Create an unprivileged user in the final stage and switch to it "
    "with USER (not root, not UID 0).",
    "repo.dockerfile_healthcheck": "Add a HEALTHCHECK to the final stage that calls the "
    "service's /health endpoint.",
    "repo.env_config": "Track only .env.example, untrack .env (git rm --cached .env), and move "
    "secret-looking ENV/ARG values out of the Dockerfile into runtime configuration.",
    "repo.no_secrets": "Remove each credential the evidence points at (file and line), rotate "
    "it, and load it from the environment or a secret manager.",
    "repo.infra_as_code": "Commit the infrastructure as code (Terraform, Bicep, Kubernetes "
    "manifests or a Helm chart) to the repository.",
    "repo.quality_gates": "Make CI run the tests with coverage, a linter, a type checker, a "
    "security linter and a dependency audit; the evidence lists which are missing.",
    "load.target_rps": "Find what saturates first at target RPS x 1.2 (the evidence's slowest "
    "seconds and errors): queries without indexes, pool sizes, worker count.",
    "load.cache_hit_ratio": "Cache the hot reads (and measure it in the cache hit/miss "
    "counters) until the hit ratio under load meets the profile's target.",
    "chaos.redis_outage": "Treat Redis as optional on reads: catch its errors, fall back to the "
    "database, and recover the connection when Redis is back.",
    "chaos.db_readiness": "Make /ready check the database with a short timeout so it turns "
    "non-2xx within 5 s of an outage and healthy again after restore.",
    "alerts.error_drill": "Add an alert rule on the service's error rate and route it to the "
    "portal's Alertmanager webhook; check the labels name this service.",
    "rollout.canary_drill": "Route about 10% of traffic to the canary, keep its errors and "
    "latency in bounds, and make the rollback hook restore the previous version.",
}


def hint(key: str) -> str:
    """The fix hint of ``key`` ("" for a key without one)."""
    return HINTS.get(key, "")
