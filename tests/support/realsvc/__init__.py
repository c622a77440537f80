"""Real-convention FastAPI services for the catalog tests (issue 12), each built the way teams
really build them, from the libraries they use, with the gaps real services have:

- ``oauth_app``: FastAPI's ``OAuth2PasswordRequestForm`` and ``OAuth2PasswordBearer`` (shaped
  like the full-stack FastAPI template): form login, 8-day tokens, offset pagination, PUT
  updates, 200 on create and delete, ``{"detail": ...}`` errors, paths with trailing slashes.
- ``users_app``: ``fastapi-users`` with its SQLAlchemy adapter on aiosqlite and its JWT
  strategy (``/auth/jwt/login``, form-encoded, username = e-mail), plus a notes resource with
  keyset (cursor) pagination under other names (``after`` / ``next`` / ``data``).
- ``conduit_app``: the RealWorld "Conduit" API: nested JSON login, ``Authorization: Token``,
  its own error shape ``{"errors": {"body": [...]}}``, articles addressed by slug, offset.
- ``widgets_app``: a service behind a static ``X-API-Key`` (and, for machine clients, bearer
  tokens from an external OAuth2 client-credentials endpoint: ``token_server``).

Each runs as its own process (``python -m tests.support.realsvc.NAME``), started on a free
loopback port by ``tests/support/realservices.py``; configuration comes from the environment.
"""
