"""The OpenID Provider as Preflight sees it: its discovery document, its keys, its token and
userinfo endpoints, and the validation of the ID tokens it issues.

Every request goes through the guarded client (checks/engine/http.py): the provider's host must
be in PREFLIGHT_OUTBOUND_ALLOWLIST, answers are size-capped, redirects are not followed, and a
timeout bounds each call. Nothing here trusts the library's defaults for validation: the ID token
is checked for its signature against a key the provider publishes (an algorithm from
PREFLIGHT_OIDC_ALGORITHMS, never ``none`` or a MAC), its issuer, its audience (and ``azp`` when
it names several), its expiry and issue time (with PREFLIGHT_OIDC_LEEWAY_S), and the nonce this
browser's sign-in sent.

Keys are cached for PREFLIGHT_OIDC_JWKS_TTL_S; a token signed with a key id the cache does not
know fetches the keys again at once (the provider rotated), at most every
PREFLIGHT_OIDC_JWKS_MIN_REFRESH_S. A key the provider stopped publishing is gone from the cache
at that refetch or when the cache expires, and tokens signed with it are refused from then on.
"""

from __future__ import annotations

import base64
import hmac
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

import httpx
import jwt
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from checks.engine.http import DestinationRefused, GuardedClient, ResponseTooLarge, shared_client
from checks.selectors import outbound_policy
from sso.secrets import scrub

MAX_BODY_BYTES = 512 * 1024
_SYMMETRIC = {"HS256", "HS384", "HS512"}


class ProviderError(Exception):
    """The provider could not be used, or what it sent is refused; ``reason`` is safe to show
    (it never contains a token or the client secret)."""

    def __init__(self, reason: str) -> None:
        reason = scrub(reason)  # whatever the provider echoed, never the client secret
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Discovery:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    end_session_endpoint: str = ""
    token_auth_methods: tuple[str, ...] = ()


def client() -> GuardedClient:
    verify: str | bool = settings.PREFLIGHT_OIDC_CA_FILE or True
    return shared_client(
        outbound_policy(),
        timeout=float(settings.PREFLIGHT_OIDC_TIMEOUT_S),
        max_body_bytes=MAX_BODY_BYTES,
        verify=verify,
    )


def _send(what: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        return client().request(method, url, **kwargs)
    except DestinationRefused as exc:
        raise ProviderError(f"{what}: {exc}") from None
    except ResponseTooLarge:
        raise ProviderError(f"{what}: the answer is larger than {MAX_BODY_BYTES} bytes") from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"{what}: {type(exc).__name__}: {exc}") from None


def _json_object(what: str, response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise ProviderError(f"{what} answered {response.status_code}")
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(f"{what} did not answer JSON") from None
    if not isinstance(body, dict):
        raise ProviderError(f"{what} did not answer a JSON object")
    return body


def _endpoint(doc: dict[str, Any], name: str, *, required: bool) -> str:
    value = doc.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise ProviderError(f"the discovery document has no usable {name}")
    if settings.PRODUCTION and urlsplit(value).scheme != "https":
        raise ProviderError(f"the discovery document's {name} is not https")
    return value


@dataclass
class _Cache:
    lock: threading.Lock = field(default_factory=threading.Lock)
    discovery: Discovery | None = None
    discovery_at: float = 0.0
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys_at: float = 0.0
    keys_from: str = ""


_cache = _Cache()


def reset_cache() -> None:
    """Forget the discovery document and the keys (tests; a changed issuer)."""
    global _cache
    _cache = _Cache()


def enabled() -> bool:
    return bool(settings.PREFLIGHT_OIDC_ISSUER and settings.OIDC_RP_CLIENT_ID)


def discover(*, force: bool = False) -> Discovery:
    """The provider's discovery document (cached for PREFLIGHT_OIDC_DISCOVERY_TTL_S)."""
    issuer = settings.PREFLIGHT_OIDC_ISSUER
    if not issuer:
        raise ProviderError("single sign-on is not configured (PREFLIGHT_OIDC_ISSUER)")
    now = time.monotonic()
    cache = _cache
    with cache.lock:
        fresh = now - cache.discovery_at < settings.PREFLIGHT_OIDC_DISCOVERY_TTL_S
        if cache.discovery is not None and cache.discovery.issuer == issuer and fresh and not force:
            return cache.discovery
    url = f"{issuer}/.well-known/openid-configuration"
    doc = _json_object("the discovery document", _send("discovery", "GET", url))
    # OpenID Connect Discovery 1.0, 4.3: the issuer in the document is exactly the one asked.
    if doc.get("issuer") != issuer:
        raise ProviderError(
            f"the discovery document names issuer {str(doc.get('issuer'))[:200]!r}, not {issuer!r}"
        )
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise ProviderError("the provider does not offer PKCE with S256")
    auth_methods = doc.get("token_endpoint_auth_methods_supported")
    found = Discovery(
        issuer=issuer,
        authorization_endpoint=_endpoint(doc, "authorization_endpoint", required=True),
        token_endpoint=_endpoint(doc, "token_endpoint", required=True),
        jwks_uri=_endpoint(doc, "jwks_uri", required=True),
        userinfo_endpoint=_endpoint(doc, "userinfo_endpoint", required=False),
        end_session_endpoint=_endpoint(doc, "end_session_endpoint", required=False),
        token_auth_methods=tuple(m for m in auth_methods or () if isinstance(m, str)),
    )
    with cache.lock:
        cache.discovery, cache.discovery_at = found, time.monotonic()
    return found


# --- keys ------------------------------------------------------------------------------------


def _fetch_keys(jwks_uri: str) -> dict[str, dict[str, Any]]:
    doc = _json_object("the JWKS", _send("JWKS", "GET", jwks_uri))
    keys = doc.get("keys")
    if not isinstance(keys, list):
        raise ProviderError("the JWKS has no keys list")
    found: dict[str, dict[str, Any]] = {}
    for index, key in enumerate(keys):
        if not isinstance(key, dict) or key.get("use", "sig") != "sig":
            continue
        if "d" in key or key.get("kty") == "oct":
            continue  # never a private or a shared key, whatever the provider publishes
        found[str(key.get("kid", f"#{index}"))] = key
    return found


def signing_key(disc: Discovery, kid: str | None, alg: str) -> jwt.PyJWK:
    """The provider's public key for this token header, fetching the keys again when the
    cache has expired or does not know ``kid`` (a rotation)."""
    cache = _cache
    now = time.monotonic()
    with cache.lock:
        stale = (
            cache.keys_from != disc.jwks_uri
            or now - cache.keys_at >= settings.PREFLIGHT_OIDC_JWKS_TTL_S
        )
        unknown = kid is not None and kid not in cache.keys
        may_refresh = now - cache.keys_at >= settings.PREFLIGHT_OIDC_JWKS_MIN_REFRESH_S
        keys = dict(cache.keys)
    if stale or (unknown and may_refresh):
        keys = _fetch_keys(disc.jwks_uri)
        with cache.lock:
            cache.keys, cache.keys_at, cache.keys_from = keys, time.monotonic(), disc.jwks_uri
    if kid is not None:
        jwk = keys.get(kid)
        if jwk is None:
            raise ProviderError(
                f"the ID token is signed with key {kid[:80]!r}, which the provider does not "
                "publish (a retired key, or not the provider's)"
            )
    else:
        usable = [k for k in keys.values() if k.get("alg") in (None, alg)]
        if len(usable) != 1:
            raise ProviderError("the ID token names no key id and the provider has several keys")
        jwk = usable[0]
    if jwk.get("alg") not in (None, alg):
        raise ProviderError(f"key {kid!r} is for {jwk.get('alg')}, the token says {alg}")
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
        raise ProviderError(f"the provider's key {kid!r} cannot be used: {exc}") from None


# --- the code exchange, the ID token and userinfo ---------------------------------------------


@sensitive_variables("secret", "data", "code", "code_verifier")
def exchange_code(
    disc: Discovery, *, code: str, redirect_uri: str, code_verifier: str
) -> dict[str, Any]:
    """POST the authorization code (with the PKCE verifier) to the token endpoint."""
    secret = settings.OIDC_RP_CLIENT_SECRET
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
        "client_id": settings.OIDC_RP_CLIENT_ID,
    }
    headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
    method = settings.PREFLIGHT_OIDC_TOKEN_AUTH
    if method == "client_secret_basic":
        # RFC 6749 2.3.1: both parts form-encoded, then Basic.
        pair = f"{quote_plus(settings.OIDC_RP_CLIENT_ID)}:{quote_plus(secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    elif method == "client_secret_post":
        data["client_secret"] = secret
    response = _send(
        "the token endpoint",
        "POST",
        disc.token_endpoint,
        content=str(httpx.QueryParams(data)),
        headers=headers,
    )
    if response.status_code != 200:
        error = ""
        try:
            body = response.json()
            if isinstance(body, dict) and isinstance(body.get("error"), str):
                error = f" ({body['error'][:60]})"
        except (ValueError, UnicodeDecodeError):
            pass
        raise ProviderError(f"the token endpoint answered {response.status_code}{error}")
    body = _json_object("the token endpoint", response)
    if not isinstance(body.get("id_token"), str):
        raise ProviderError("the token endpoint sent no ID token")
    return body


_JWT_REFUSALS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "the ID token has expired"),
    (jwt.InvalidAudienceError, "the ID token is meant for another client (aud)"),
    (jwt.InvalidIssuerError, "the ID token was issued by someone else (iss)"),
    (jwt.ImmatureSignatureError, "the ID token is not valid yet (iat/nbf in the future)"),
    (jwt.MissingRequiredClaimError, "the ID token lacks a required claim"),
    (jwt.InvalidSignatureError, "the ID token's signature does not verify with the provider's key"),
    (jwt.DecodeError, "the ID token is not a valid signed JWT"),
]


def validate_id_token(
    token: str, *, nonce: str | None, disc: Discovery | None = None
) -> dict[str, Any]:
    """The claims of a valid ID token; ProviderError (with the reason) otherwise.

    ``nonce`` is the one this sign-in sent; None only for tokens that carry none by design
    (never on the sign-in path, which always sends one)."""
    disc = disc or discover()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise ProviderError("the ID token is not a valid signed JWT") from None
    alg = header.get("alg")
    if (
        not isinstance(alg, str)
        or alg not in settings.PREFLIGHT_OIDC_ALGORITHMS
        or alg in _SYMMETRIC
    ):
        raise ProviderError(f"the ID token's algorithm {str(alg)[:20]!r} is not accepted")
    kid = header.get("kid")
    key = signing_key(disc, kid if isinstance(kid, str) else None, alg)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            audience=settings.OIDC_RP_CLIENT_ID,
            issuer=disc.issuer,
            leeway=settings.PREFLIGHT_OIDC_LEEWAY_S,
            options={"require": ["iss", "sub", "aud", "exp", "iat"]},
        )
    except jwt.PyJWTError as exc:
        for kind, reason in _JWT_REFUSALS:
            if isinstance(exc, kind):
                raise ProviderError(reason) from None
        raise ProviderError(f"the ID token is refused: {type(exc).__name__}") from None
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != settings.OIDC_RP_CLIENT_ID:
        raise ProviderError("the ID token names several audiences and another party (azp)")
    if nonce is not None:
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            raise ProviderError(
                "the ID token's nonce is not the one this sign-in sent (a replayed or "
                "foreign token)"
            )
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise ProviderError("the ID token has no subject (sub)")
    return claims


def userinfo(disc: Discovery, access_token: str, *, subject: str) -> dict[str, Any]:
    """The userinfo claims (JSON, or a signed JWT), for the same subject as the ID token."""
    if not disc.userinfo_endpoint or not access_token:
        return {}
    response = _send(
        "userinfo",
        "GET",
        disc.userinfo_endpoint,
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
    )
    if response.headers.get("content-type", "").lower().startswith("application/jwt"):
        if response.status_code != 200:
            raise ProviderError(f"userinfo answered {response.status_code}")
        claims = validate_id_token_like(response.text, disc)
    else:
        claims = _json_object("userinfo", response)
    # OpenID Connect Core 5.3.2: the sub from userinfo must be the ID token's.
    if claims.get("sub") != subject:
        raise ProviderError("userinfo is about another subject than the ID token")
    return claims


def validate_id_token_like(token: str, disc: Discovery) -> dict[str, Any]:
    """A signed userinfo answer: signature and algorithm as for an ID token; iss and aud are
    optional there (Core 5.3.2), so only checked when present."""
    try:
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in settings.PREFLIGHT_OIDC_ALGORITHMS:
            raise ProviderError("the signed userinfo's algorithm is not accepted")
        kid = header.get("kid")
        key = signing_key(disc, kid if isinstance(kid, str) else None, alg)
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            options={"verify_aud": False, "verify_iss": False},
        )
    except jwt.PyJWTError:
        raise ProviderError("the signed userinfo does not verify") from None
    if "iss" in claims and claims["iss"] != disc.issuer:
        raise ProviderError("the signed userinfo was issued by someone else")
    return claims


def logout_url(disc: Discovery, *, id_token: str, post_logout_redirect_uri: str) -> str:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""
    params = httpx.QueryParams(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": post_logout_redirect_uri,
            "client_id": settings.OIDC_RP_CLIENT_ID,
        }
    )
    joiner = "&" if "?" in disc.end_session_endpoint else "?"
    return f"{disc.end_session_endpoint}{joiner}{params}"
