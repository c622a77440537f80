"""A small OAuth2 token endpoint (RFC 6749 §4.4, client credentials), standing in for the
Keycloak or Auth0 that real services sit behind.

``POST /oauth/token`` with ``grant_type=client_credentials`` and the client authenticated by
HTTP Basic or by ``client_id``/``client_secret`` in the form answers ``{"access_token",
"token_type": "Bearer", "expires_in", "scope"}``; a wrong client answers 401
``{"error": "invalid_client"}``. Tokens are HS256 JWTs for the audience ``widgets``. It counts
the tokens it issued at ``GET /stats`` so tests can see how often a run logged in.

Environment: ``CLIENT_ID``, ``CLIENT_SECRET``, ``ISSUER_SECRET``.
"""

from __future__ import annotations

import base64
import hmac
import os
import time
from typing import Annotated

import jwt
from fastapi import FastAPI, Form, Header
from fastapi.responses import JSONResponse

from tests.support.realsvc.serve import serve

CLIENT_ID = os.environ["CLIENT_ID"]
CLIENT_SECRET = os.environ["CLIENT_SECRET"]
ISSUER_SECRET = os.environ["ISSUER_SECRET"]
LIFETIME_S = 300

app = FastAPI(title="Token endpoint", openapi_url=None)
issued = {"tokens": 0}


def _client(authorization: str | None, form_id: str | None, form_secret: str | None) -> str | None:
    client_id, secret = form_id, form_secret
    if authorization and authorization.startswith("Basic "):
        try:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        except ValueError:
            return None
    if client_id != CLIENT_ID or not hmac.compare_digest(
        (secret or "").encode(), CLIENT_SECRET.encode()
    ):
        return None
    return client_id


@app.post("/oauth/token")
def token(
    grant_type: Annotated[str, Form()],
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str, Form()] = "",
    audience: Annotated[str, Form()] = "widgets",
    authorization: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    if grant_type != "client_credentials":
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
    client = _client(authorization, client_id, client_secret)
    if client is None:
        return JSONResponse({"error": "invalid_client"}, status_code=401)
    now = int(time.time())
    claims = {"sub": client, "aud": audience, "iat": now, "exp": now + LIFETIME_S, "scope": scope}
    issued["tokens"] += 1
    return JSONResponse(
        {
            "access_token": jwt.encode(claims, ISSUER_SECRET, algorithm="HS256"),
            "token_type": "Bearer",
            "expires_in": LIFETIME_S,
            "scope": scope,
        },
        headers={"Cache-Control": "no-store"},
    )


@app.get("/stats")
def stats() -> dict[str, int]:
    return issued


if __name__ == "__main__":
    serve(app)
