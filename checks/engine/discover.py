"""``preflight discover``: draft a service's profile from its OpenAPI document.

It reads the document (the given URL, or the usual places), then infers the login style (an
OAuth2 ``tokenUrl`` and its form, or a JSON login body found by its password field), where
the token is in the login answer, the header and scheme, the CRUD collection with its item
route, create body, id, envelope, update method and pagination, and the health, readiness,
metrics and other reference routes, or their absence (``""``). Given credentials it logs in
once, through the same code ``preflight check`` uses, to confirm the draft works. Every
request goes through the guarded client. Nothing here imports Django.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from checks.engine.draft import Draft, Section, render_toml
from checks.engine.http import DestinationRefused, GuardedClient, ResponseTooLarge
from checks.engine.login import LoginFailed
from checks.engine.outcome import MissingSetting
from checks.engine.profile import ProfileError, parse_profile
from checks.engine.target import Target

OPENAPI_PLACES = (
    "/openapi.json",
    "/api/openapi.json",
    "/api/v1/openapi.json",
    "/v1/openapi.json",
    "/api/v2/openapi.json",
    "/docs/openapi.json",
)
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# Routes named by their last segment, as teams commonly name them.
ROUTE_NAMES: dict[str, tuple[str, ...]] = {
    "health": ("health", "healthz", "health-check", "health_check", "healthcheck", "livez"),
    "ready": ("ready", "readyz", "readiness"),
    "ping_db": ("ping-db", "ping_db", "pingdb", "db-health", "health-db"),
    "version": ("version",),
    "metrics": ("metrics",),
}
# Undocumented routes worth one GET each (mounted apps are not in the document).
PROBED = {"health": ("/health", "/healthz"), "metrics": ("/metrics",)}
_USER_FIELDS = ("username", "email", "login", "user_name", "userName", "identifier", "user")
_PASSWORD_FIELDS = ("password", "pass", "passwd")
_TOKEN_FIELDS = ("access_token", "accessToken", "token", "jwt", "id_token", "auth_token")
_REFRESH_FIELDS = ("refresh_token", "refreshToken")
_MARKER_FIELDS = ("name", "title", "label", "summary", "subject", "description", "body", "text")
_CURSOR_PARAMS = ("cursor", "after", "page_token", "pageToken", "starting_after", "next")
_OFFSET_PARAMS = ("offset", "skip")
_LIMIT_PARAMS = ("limit", "size", "page_size", "pageSize", "per_page", "perPage", "take")
_NEXT_FIELDS = ("next_cursor", "nextCursor", "next", "cursor", "next_page_token", "nextPageToken")
_CREATED_FIELDS = ("created_at", "createdAt", "created", "inserted_at", "creation_date")
_LOGIN_SEGMENT = re.compile(r"(^|[-_/])(login|signin|sign-in|token|session|sessions|authenticate)$")
_ME_SEGMENT = re.compile(r"^(me|user|profile|account|whoami|self)$")
_PARAM = re.compile(r"\{([^}]+)\}")


class DiscoveryFailed(Exception):
    """Nothing to draft from: the service cannot be reached or publishes no document.

    ``reason`` says which, for callers that show it: ``unreachable``, ``no_document`` or
    ``refused`` (the outbound policy refused the destination before any connection)."""

    def __init__(self, message: str, reason: str = "unreachable") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass
class Credentials:
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_env: str | None = None
    otp_secret: str | None = field(default=None, repr=False)
    otp_secret_env: str | None = None


@dataclass
class Op:
    method: str
    path: str
    spec: dict[str, Any]

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def last_segment(self) -> str:
        parts = [p for p in self.path.rstrip("/").split("/") if p and not p.startswith("{")]
        return parts[-1].lower() if parts else ""


# --- the document ----------------------------------------------------------------------------


class Doc:
    """The OpenAPI document with ``$ref`` resolution and the helpers inference needs."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.ops = [
            Op(method, str(path), spec)
            for path, item in (data.get("paths") or {}).items()
            if isinstance(item, dict)
            for method in HTTP_METHODS
            if isinstance(spec := item.get(method), dict)
        ]

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """``node`` with ``$ref`` followed and ``allOf`` merged; one nullable ``anyOf`` arm."""
        if depth > 20 or not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            target: Any = self.data
            for part in ref[2:].split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            return self.resolve(target, depth + 1)
        for key in ("anyOf", "oneOf"):
            arms = [a for a in node.get(key) or [] if self.resolve(a).get("type") != "null"]
            if arms:
                return self.resolve(arms[0], depth + 1)
        if node.get("allOf"):
            merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
            for part in node["allOf"]:
                part = self.resolve(part, depth + 1)
                merged["properties"].update(part.get("properties") or {})
                merged["required"] += part.get("required") or []
            return merged
        return node

    def op(self, method: str, path: str) -> Op | None:
        return next((o for o in self.ops if o.method == method and o.path == path), None)

    def body_schema(self, op: Op, media: str = "application/json") -> dict[str, Any] | None:
        content = (self.resolve(op.spec.get("requestBody")) or {}).get("content") or {}
        schema = (content.get(media) or {}).get("schema")
        return self.resolve(schema) if schema is not None else None

    def answer_schema(self, op: Op) -> dict[str, Any] | None:
        responses = op.spec.get("responses") or {}
        for status in ("200", "201"):
            content = (self.resolve(responses.get(status)) or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            if schema is not None:
                return self.resolve(schema)
        return None

    def properties(self, schema: Any) -> dict[str, Any]:
        schema = self.resolve(schema)
        props = schema.get("properties") if isinstance(schema, dict) else None
        return {k: self.resolve(v) for k, v in props.items()} if isinstance(props, dict) else {}

    def find_field(self, schema: Any, names: tuple[str, ...], depth: int = 0) -> str | None:
        """The dotted path of the first property named one of ``names`` (breadth first)."""
        props = self.properties(schema)
        for name in names:
            if name in props:
                return name
        if depth >= 2:
            return None
        for key, sub in props.items():
            if sub.get("type") == "object" or sub.get("properties"):
                found = self.find_field(sub, names, depth + 1)
                if found:
                    return f"{key}.{found}"
        return None

    def secured(self, op: Op) -> bool:
        """Whether the operation needs credentials (an empty requirement makes them optional)."""
        security = op.spec.get("security", self.data.get("security")) or []
        return bool(security) and all(isinstance(req, dict) and req for req in security)


# --- fetching --------------------------------------------------------------------------------


def fetch_document(
    client: GuardedClient, base_url: str, openapi_url: str | None
) -> tuple[Doc, str]:
    """The document and the URL it came from; DiscoveryFailed with a clear reason."""
    places = [openapi_url] if openapi_url else [base_url.rstrip("/") + p for p in OPENAPI_PLACES]
    tried: list[str] = []
    reached = False
    for url in places:
        url = urljoin(base_url.rstrip("/") + "/", url)
        try:
            response = client.get(url, follow_redirects=True)
        except DestinationRefused as exc:
            raise DiscoveryFailed(f"{url}: {exc}", "refused") from exc
        except (httpx.HTTPError, ResponseTooLarge) as exc:
            tried.append(f"{url} ({type(exc).__name__}: {exc})")
            continue
        reached = True
        data = _json(response)
        if response.status_code == 200 and isinstance(data, dict):
            if isinstance(data.get("openapi"), str) and isinstance(data.get("paths"), dict):
                return Doc(data), url
            if "swagger" in data:
                raise DiscoveryFailed(
                    f"{url} is a Swagger 2 document; discover reads OpenAPI 3", "no_document"
                )
        tried.append(f"{url} ({response.status_code})")
    if not reached:
        raise DiscoveryFailed(
            f"cannot reach {base_url}: " + "; ".join(tried) if tried else f"cannot reach {base_url}"
        )
    raise DiscoveryFailed(
        "no OpenAPI document found (tried " + ", ".join(tried) + "); pass --openapi-url",
        "no_document",
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# --- inference -------------------------------------------------------------------------------


@dataclass
class Login:
    style: str
    source: str
    path: str | None = None
    body: dict[str, Any] | None = None
    token_path: str | None = None
    refresh_path: str | None = None
    header: str = "Authorization"
    scheme: str | None = "Bearer"
    scheme_source: str = ""
    scopes: dict[str, Any] | None = None  # None: unknown; {}: none declared
    takes_scope: bool = False
    token_url: str | None = None


def _local_path(base_url: str, url: str) -> str:
    """A token URL as a path on the service when it is on the same origin, else as given."""
    joined = urljoin(base_url.rstrip("/") + "/", url)
    base, target = urlsplit(base_url), urlsplit(joined)
    if (base.scheme, base.netloc) == (target.scheme, target.netloc):
        return target.path or "/"
    return joined


def _schemes(doc: Doc) -> dict[str, dict[str, Any]]:
    found = ((doc.data.get("components") or {}).get("securitySchemes")) or {}
    return {name: doc.resolve(s) for name, s in found.items() if isinstance(s, dict)}


def _json_login(doc: Doc) -> tuple[Op, dict[str, Any], str] | None:
    """A POST that takes a password in a JSON body: (op, body template, source). Routes named
    like a login come first; sign-ups (which take a password too) are never taken."""
    posts = [o for o in doc.ops if o.method == "post" and not o.params]
    posts.sort(key=lambda o: not _LOGIN_SEGMENT.search(o.path.rstrip("/").lower()))
    for op in posts:
        lowered = op.path.lower()
        if any(word in lowered for word in ("refresh", "logout", "register", "signup", "sign-up")):
            continue
        if not _LOGIN_SEGMENT.search(lowered.rstrip("/")) and lowered.rstrip("/").endswith("users"):
            continue
        found = _credential_fields(doc, op)
        if found is not None:
            return found
    return None


def _credential_fields(doc: Doc, op: Op) -> tuple[Op, dict[str, Any], str] | None:
    schema = doc.body_schema(op)
    if schema is None:
        return None
    password = doc.find_field(schema, _PASSWORD_FIELDS)
    if password is None:
        return None
    holder = password.rsplit(".", 1)[0] if "." in password else ""
    holder_schema: Any = schema
    for part in holder.split(".") if holder else ():
        holder_schema = doc.properties(holder_schema).get(part, {})
    fields = doc.properties(holder_schema)
    user = next((n for n in _USER_FIELDS if n in fields), None)
    if user is None:
        return None
    inner: dict[str, Any] = {user: "${username}", password.rsplit(".", 1)[-1]: "${password}"}
    if "scope" in fields:
        inner["scope"] = "${scope}"
    body: dict[str, Any] = inner
    for part in reversed(holder.split(".") if holder else []):
        body = {part: body}
    where = f"{holder}." if holder else ""
    source = f"POST {op.path} takes {where}{user} and {where}password as JSON"
    return op, body, source


def _form_login(doc: Doc) -> Op | None:
    for op in doc.ops:
        schema = doc.body_schema(op, "application/x-www-form-urlencoded")
        if op.method == "post" and schema is not None:
            props = doc.properties(schema)
            if "username" in props and "password" in props:
                return op
    return None


def infer_login(doc: Doc, base_url: str) -> Login | None:
    schemes = _schemes(doc)
    for name, scheme in schemes.items():
        flows = scheme.get("flows") or {}
        if scheme.get("type") == "oauth2" and "password" in flows:
            flow = flows["password"]
            path = _local_path(base_url, str(flow.get("tokenUrl", "")))
            login = Login(
                "oauth2_password",
                f"OAuth2 password flow {name!r}: tokenUrl {flow.get('tokenUrl')!r}",
                path=path,
                scopes=dict(flow.get("scopes") or {}),
            )
            op = doc.op("post", path)
            login.token_path, login.refresh_path = _token_paths(doc, op)
            return login
    json_login = _json_login(doc)
    for name, scheme in schemes.items():
        kind = scheme.get("type")
        header = str(scheme.get("name", ""))
        if kind == "apiKey" and scheme.get("in") == "header" and header.lower() != "authorization":
            return Login(
                "static",
                f"API key scheme {name!r} in header {header}",
                header=header,
                scheme="",
                scopes={},
            )
    for name, scheme in schemes.items():
        kind = scheme.get("type")
        is_auth_header = kind == "http" or (
            kind == "apiKey" and str(scheme.get("name", "")).lower() == "authorization"
        )
        if not is_auth_header:
            continue
        login_scheme, scheme_source = _auth_scheme(scheme, name)
        if json_login is not None:
            op, body, source = json_login
            login = Login(
                "json",
                source,
                path=op.path,
                body=body,
                scheme=login_scheme,
                scheme_source=scheme_source,
                takes_scope="${scope}" in str(body),
            )
            login.token_path, login.refresh_path = _token_paths(doc, op)
            return login
        form = _form_login(doc)
        if form is not None:
            login = Login(
                "oauth2_password",
                f"{form.method.upper()} {form.path} takes a username/password form",
                path=form.path,
            )
            login.token_path, login.refresh_path = _token_paths(doc, form)
            return login
    for name, scheme in schemes.items():
        flows = scheme.get("flows") or {}
        if scheme.get("type") == "oauth2" and "clientCredentials" in flows:
            flow = flows["clientCredentials"]
            login = Login(
                "client_credentials",
                f"OAuth2 client-credentials flow {name!r}",
                scopes=dict(flow.get("scopes") or {}),
            )
            login.token_url = urljoin(base_url.rstrip("/") + "/", str(flow.get("tokenUrl", "")))
            return login
    for name, scheme in schemes.items():
        if scheme.get("type") == "http":
            login_scheme, scheme_source = _auth_scheme(scheme, name)
            return Login(
                "static",
                f"{name!r} bearer scheme with no login route in the document",
                scheme=login_scheme,
                scheme_source=scheme_source,
                scopes={},
            )
    return None


def _auth_scheme(scheme: dict[str, Any], name: str) -> tuple[str | None, str]:
    if scheme.get("type") == "http":
        word = str(scheme.get("scheme", "bearer")).capitalize()
        return word, f"security scheme {name!r} is http {scheme.get('scheme')!r}"
    described = str(scheme.get("description") or "")
    for word in ("Token", "Bearer", "JWT"):
        if re.search(rf"\b{word}\b", described):
            return word, f"the description of {name!r} says {word}"
    return None, f"{name!r} is an Authorization header whose scheme the document does not name"


def _token_paths(doc: Doc, op: Op | None) -> tuple[str | None, str | None]:
    schema = doc.answer_schema(op) if op is not None else None
    if schema is None:
        return None, None
    return doc.find_field(schema, _TOKEN_FIELDS), doc.find_field(schema, _REFRESH_FIELDS)


@dataclass
class Resource:
    collection: Op
    item_path: str
    update_method: str
    source: str


def infer_resource(doc: Doc) -> Resource | None:
    """The collection with create/list plus an item route with read, update and delete."""
    found: list[Resource] = []
    for op in doc.ops:
        if op.method != "post" or op.params or doc.op("get", op.path) is None:
            continue
        base = op.path.rstrip("/")
        for item in doc.ops:
            if item.method != "get" or len(item.params) != 1:
                continue
            if not re.fullmatch(re.escape(base) + r"/\{[^}/]+\}/?", item.path):
                continue
            methods = {o.method for o in doc.ops if o.path == item.path}
            if "delete" not in methods or not methods & {"put", "patch"}:
                continue
            update = "PATCH" if "patch" in methods else "PUT"
            found.append(
                Resource(
                    doc.op("get", op.path) or op,
                    _PARAM.sub("{id}", item.path),
                    update,
                    f"GET/POST {op.path} with GET/{update}/DELETE {item.path}",
                )
            )
    auth_like = re.compile(r"/(auth|users?|accounts?|login|token)s?(/|$)")
    found.sort(key=lambda r: bool(auth_like.search(r.collection.path)))
    return found[0] if found else None


class _Example:
    """An example request body from a schema, with ``${marker}`` in the text fields."""

    def __init__(self, doc: Doc) -> None:
        self.doc = doc
        self.marked = False

    def build(self, schema: Any, depth: int = 0) -> Any:
        schema = self.doc.resolve(schema)
        if not isinstance(schema, dict) or depth > 4:
            return None
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            return self._object(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return int(max(schema.get("minimum", 1), 1 if schema.get("maximum", 2) >= 1 else 0))
        if kind == "number":
            return float(max(schema.get("minimum", 1), 1))
        if kind == "boolean":
            return False
        if kind == "array":
            if schema.get("minItems", 0) > 0:
                return [self.build(schema.get("items"), depth + 1)]
            return []
        return None

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = self.doc.properties(schema)
        required = [k for k in schema.get("required") or [] if k in props]
        wanted = list(required)
        if not any(self._takes_marker(props[k]) for k in required):
            texts = [k for k in _MARKER_FIELDS if self._takes_marker(props.get(k, {}))]
            if texts:
                wanted.append(texts[0])
        out: dict[str, Any] = {}
        for key in sorted(wanted, key=lambda k: k not in _MARKER_FIELDS):
            value = self.build(props[key], depth + 1)
            if value is not None:
                out[key] = value
        return out

    @staticmethod
    def _takes_marker(schema: dict[str, Any]) -> bool:
        return schema.get("type") == "string" and not schema.get("format") and "enum" not in schema

    def _string(self, schema: dict[str, Any]) -> str:
        formats = {
            "email": "preflight@example.com",
            "uri": "https://example.com/preflight",
            "date-time": "2026-01-01T00:00:00Z",
            "date": "2026-01-01",
            "uuid": "00000000-0000-4000-8000-000000000000",
        }
        fmt = schema.get("format")
        if fmt in formats:
            return formats[fmt]
        self.marked = True
        return "${marker}"


def _marker_only(template: Any) -> Any:
    """The parts of a template that carry the marker (for a PATCH or partial PUT body)."""
    if isinstance(template, dict):
        kept = {k: _marker_only(v) for k, v in template.items()}
        kept = {k: v for k, v in kept.items() if v not in (None, {}, [])}
        if not kept:
            return None
        # One text field is enough to see an update land.
        first_text = next((k for k, v in kept.items() if v == "${marker}"), None)
        return (
            {first_text: "${marker}"}
            if first_text and not isinstance(kept[first_text], dict)
            else kept
        )
    return template if template == "${marker}" else None


# --- the draft -------------------------------------------------------------------------------


def discover(
    client: GuardedClient,
    base_url: str,
    *,
    openapi_url: str | None = None,
    credentials: Credentials | None = None,
    progress: Callable[[str], None] | None = None,
) -> Draft:
    """Draft a profile for the service at ``base_url`` (DiscoveryFailed when impossible).
    ``progress`` is told each stage as it starts (the portal shows it while it waits)."""
    creds = credentials or Credentials()
    tell = progress or (lambda stage: None)
    tell("reading the OpenAPI document")
    doc, found_at = fetch_document(client, base_url, openapi_url)
    draft = Draft(base_url=base_url.rstrip("/"), openapi_url=found_at)
    info = doc.data.get("info") or {}
    service = draft.section("service")
    service.set("name", _slug(str(info.get("title") or "service")), "the document's info.title")
    service.set("base_url", draft.base_url, "--base-url")
    tell("inferring the login, the resource and the routes")
    login = infer_login(doc, draft.base_url)
    resource = infer_resource(doc)
    _auth_section(draft, doc, login, creds)
    _paths_section(draft, doc, client, login, resource, found_at)
    _resource_section(draft, doc, resource)
    _todo_sections(draft)
    if creds.password is not None or (login is not None and login.style == "static"):
        tell("logging in once to confirm the draft")
        _confirm(draft, client, creds, doc, login)
    return draft


def blank_draft(base_url: str, name: str, *, username: str | None = None) -> Draft:
    """A profile to fill in by hand, shaped like a discovered one: where discovery found
    nothing to draft from (no document), every setting is left to fill in."""
    draft = Draft(base_url=base_url.rstrip("/"), openapi_url="")
    service = draft.section("service")
    service.set("name", name, "the service's name")
    service.set("base_url", draft.base_url, "the staging URL")
    auth = draft.section("auth")
    auth.todo("style", "json", "how the probe logs in: json, oauth2_password, static, ...")
    if username:
        auth.set("username", username, "the probe username given")
    else:
        auth.todo("username", "probe", "fill in: the probe user")
    auth.todo("token_path", "access_token", "where the login answer holds the token")
    paths = draft.section("paths")
    for key, example in (("health", "/health"), ("login", "/auth/login"), ("items", "/items")):
        paths.todo(key, example, f'fill in, or "" when the service has no {key} route')
    draft.section("resource").todo("create_body", {"name": "${marker}"}, "fill in with paths.items")
    _todo_sections(draft)
    return draft


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "service"


def _auth_section(draft: Draft, doc: Doc, login: Login | None, creds: Credentials) -> None:
    auth = draft.section("auth")
    if login is None:
        draft.notes.append(
            "the document declares no security scheme Preflight can use: fill in [auth]"
        )
        auth.todo("style", "json", "no security scheme in the document")
        return
    auth.set("style", login.style, login.source)
    secret_key = {"static": "token_env", "client_credentials": "client_secret_env"}.get(
        login.style, "password_env"
    )
    if login.style == "client_credentials":
        auth.set("token_url", login.token_url, "the flow's tokenUrl")
        if creds.username:
            auth.set("client_id", creds.username, "--username")
        else:
            auth.todo("client_id", "preflight", "fill in: the client id (--username)")
    elif login.style != "static":
        if creds.username:
            auth.set("username", creds.username, "--username")
        else:
            auth.todo("username", "probe", "fill in: the probe user (--username)")
    if creds.password_env:
        auth.set(secret_key, creds.password_env, "--password-env")
    else:
        auth.todo(secret_key, "PROBE_SECRET", "fill in: the variable holding the secret")
    if creds.otp_secret_env:
        auth.set("otp_secret_env", creds.otp_secret_env, "--otp-secret-env")
    if login.body is not None:
        auth.set("body", login.body, login.source)
    if login.token_path:
        auth.set("token_path", login.token_path, "the login answer's schema")
    elif login.style in ("json", "oauth2_password"):
        auth.todo("token_path", "access_token", "the login answer's schema names no token field")
    if login.style in ("json", "oauth2_password") or login.style == "client_credentials":
        auth.set(
            "refresh_token_path",
            login.refresh_path or "",
            "the login answer's schema" + ("" if login.refresh_path else " has no refresh token"),
        )
    if login.header != "Authorization":
        auth.set("header", login.header, login.source)
    if login.scheme is not None:
        if login.scheme != "Bearer" or login.header != "Authorization" or login.style == "static":
            auth.set("scheme", login.scheme, login.scheme_source or login.source)
    else:
        auth.todo("scheme", "Bearer", login.scheme_source + " (confirmed at login when given)")
    _scopes(auth, login)


def _scopes(auth: Section, login: Login) -> None:
    if login.style == "static":
        return
    if login.scopes:
        names = list(login.scopes)
        read = next((s for s in names if "read" in s.lower()), None)
        write = next((s for s in names if "write" in s.lower()), None)
        if read and write:
            auth.set("read_scope", read, "the OAuth2 flow's scopes")
            auth.set("write_scope", write, "the OAuth2 flow's scopes")
            return
        auth.todo("read_scope", names[0], "the flow declares scopes " + ", ".join(names))
        return
    if login.takes_scope:
        auth.todo("read_scope", "items:read", "the login takes a scope; its names are not listed")
        auth.todo("write_scope", "items:write", "the login takes a scope; names not listed")
        return
    auth.set("read_scope", "", "the document declares no scopes")


def _route(doc: Doc, key: str) -> Op | None:
    names = ROUTE_NAMES[key]
    return next(
        (o for o in doc.ops if o.method == "get" and not o.params and o.last_segment() in names),
        None,
    )


def _paths_section(
    draft: Draft,
    doc: Doc,
    client: GuardedClient,
    login: Login | None,
    resource: Resource | None,
    found_at: str,
) -> None:
    paths = draft.section("paths")
    paths.set("openapi", _local_path(draft.base_url, found_at), "the document was found there")
    for key in ("health", "ready", "ping_db", "version", "metrics"):
        op = _route(doc, key)
        if op is not None:
            paths.set(key, op.path, f"GET {op.path} in the document")
            continue
        probed = _probe(client, draft.base_url, PROBED.get(key, ()))
        if probed:
            paths.set(key, probed, f"GET {probed} answered 200 (not in the document)")
        else:
            paths.set(key, "", "no such route in the document")
    if login is not None and login.style in ("json", "oauth2_password") and login.path:
        paths.set("login", login.path, login.source)
    elif login is not None:
        paths.set("login", "", f"the service has no login of its own ({login.style})")
    else:
        paths.todo("login", "/auth/login", "no login route found in the document")
    refresh = next((o for o in doc.ops if o.method == "post" and "refresh" in o.path), None)
    paths.set(
        "refresh",
        refresh.path if refresh else "",
        f"POST {refresh.path} in the document" if refresh else "no refresh route in the document",
    )
    otp = next(
        (o for o in doc.ops if o.method == "post" and re.search(r"otp|totp|mfa|2fa", o.path)),
        None,
    )
    paths.set(
        "otp_verify",
        otp.path if otp else "",
        f"POST {otp.path} in the document" if otp else "no OTP route in the document",
    )
    if resource is not None:
        paths.set("items", resource.collection.path, resource.source)
        protected = _protected(doc, resource)
        if protected is not None and protected != resource.collection.path:
            paths.set(
                "protected",
                protected,
                f"GET {protected} needs a token ({resource.collection.path} does not)",
            )
        elif protected is None:
            paths.set("protected", "", "no GET route without parameters needs a token")
    else:
        paths.todo("items", "/items", "no collection with create, read, update and delete found")
    legacy = next(
        (o for o in doc.ops if o.method == "get" and not o.params and o.spec.get("deprecated")),
        None,
    )
    paths.set(
        "legacy_items",
        legacy.path if legacy else "",
        f"GET {legacy.path} is marked deprecated" if legacy else "no deprecated listing",
    )


def _protected(doc: Doc, resource: Resource) -> str | None:
    if doc.secured(resource.collection):
        return resource.collection.path
    candidates = [o for o in doc.ops if o.method == "get" and not o.params and doc.secured(o)]
    candidates.sort(key=lambda o: not _ME_SEGMENT.match(o.last_segment()))
    return candidates[0].path if candidates else None


def _probe(client: GuardedClient, base_url: str, candidates: tuple[str, ...]) -> str | None:
    for path in candidates:
        try:
            if client.get(base_url + path).status_code == 200:
                return path
        except (httpx.HTTPError, ResponseTooLarge):
            continue
    return None


def _resource_section(draft: Draft, doc: Doc, resource: Resource | None) -> None:
    section = draft.section("resource")
    if resource is None:
        section.todo("create_body", {"name": "${marker}"}, "fill in with paths.items")
        return
    paths = draft.section("paths")
    items = str(paths.get("items"))
    default_item = items.rstrip("/") + "/{id}"
    if resource.item_path != default_item:
        section.set("item_path", resource.item_path, resource.source)
    post = doc.op("post", resource.collection.path)
    created = doc.answer_schema(post) if post else None
    _identity(section, doc, created, resource)
    example = _Example(doc)
    body = example.build(doc.body_schema(post)) if post else None
    if isinstance(body, dict) and example.marked:
        section.set("create_body", body, f"the schema of POST {resource.collection.path}")
        update_op = doc.op(resource.update_method.lower(), _item_doc_path(doc, resource))
        update_schema = doc.body_schema(update_op) if update_op else None
        required = bool(update_schema and (update_schema.get("required") or []))
        if resource.update_method == "PATCH" or not required:
            section.set(
                "update_body",
                _marker_only(body) or body,
                f"a {resource.update_method} changes only the text field",
            )
        section.set("update_method", resource.update_method, resource.source)
    else:
        section.todo("create_body", {"name": "${marker}"}, "the create body has no text field")
    _listing(section, doc, resource)


def _item_doc_path(doc: Doc, resource: Resource) -> str:
    base = resource.collection.path.rstrip("/")
    for op in doc.ops:
        if re.fullmatch(re.escape(base) + r"/\{[^}/]+\}/?", op.path):
            return op.path
    return resource.item_path


def _identity(section: Section, doc: Doc, created: Any, resource: Resource) -> None:
    """item_envelope, id_path and created_at_path from the create answer's schema."""
    param = _PARAM.search(_item_doc_path(doc, resource))
    name = param.group(1) if param else "id"
    props = doc.properties(created)
    envelope = ""
    if len(props) == 1:
        ((key, inner),) = props.items()
        if inner.get("type") == "object" or inner.get("properties"):
            envelope, props = key, doc.properties(inner)
    if envelope:
        section.set("item_envelope", envelope, "the create answer wraps the item")
    id_field = next(
        (f for f in (name, name.removesuffix("_id") + "_id", "id", "uuid", "_id") if f in props),
        None,
    )
    if id_field is None and name.endswith(("_id", "Id")) and "id" in props:
        id_field = "id"
    if id_field:
        if id_field != "id":
            section.set("id_path", id_field, f"the item route's parameter {{{name}}}")
    else:
        section.todo("id_path", "id", "the create answer's schema names no id")
    created_at = next((f for f in _CREATED_FIELDS if f in props), None)
    if created_at != "created_at":
        section.set(
            "created_at_path",
            created_at or "",
            "the item's schema" + ("" if created_at else " has no creation time"),
        )


def _listing(section: Section, doc: Doc, resource: Resource) -> None:
    listing = doc.answer_schema(resource.collection)
    if listing is not None and listing.get("type") == "array":
        section.set("list_path", "", f"GET {resource.collection.path} answers a bare array")
        envelope_props: dict[str, Any] = {}
    else:
        envelope_props = doc.properties(listing)
        array = next((k for k, v in envelope_props.items() if v.get("type") == "array"), None)
        if array and array != "items":
            section.set("list_path", array, f"GET {resource.collection.path} answers {{{array}}}")
        elif array is None:
            section.todo("list_path", "items", "the listing's schema names no list")
    params = [
        str(p.get("name"))
        for p in (doc.resolve(p) for p in resource.collection.spec.get("parameters") or [])
        if isinstance(p, dict) and p.get("in") == "query"
    ]
    limit = next((p for p in _LIMIT_PARAMS if p in params), None)
    cursor = next((p for p in _CURSOR_PARAMS if p in params), None)
    offset = next((p for p in _OFFSET_PARAMS if p in params), None)
    where = f"GET {resource.collection.path} takes " + ", ".join(params or ["no query"])
    if cursor:
        section.set("pagination", "cursor", where)
        if cursor != "cursor":
            section.set("cursor_param", cursor, where)
        nxt = next((f for f in _NEXT_FIELDS if f in envelope_props), None)
        if nxt and nxt != "next_cursor":
            section.set("next_cursor_path", nxt, "the listing's schema")
        elif nxt is None:
            section.todo("next_cursor_path", "next_cursor", "the listing's schema names no cursor")
    elif offset:
        section.set("pagination", "offset", where)
        section.set("offset_param", offset, where)
    elif "page" in params:
        section.set("pagination", "page", where)
    else:
        section.set("pagination", "none", where)
    if limit and limit != "limit":
        section.set("limit_param", limit, where)


def _todo_sections(draft: Draft) -> None:
    draft.section("limits").todo("login_attempts", 10, "the login limit a minute (429 after it)")
    draft.section("cors").todo(
        "allowed_origin", "https://app.example.com", "an origin the service must allow"
    )
    tls = draft.section("tls")
    tls.todo("https_url", "https://staging.example.com", "needed by security.tls")
    draft.section("status").todo(
        "bad_credentials", [400, 401], "narrow the statuses HTTP allows, if the service is stricter"
    )


# --- confirming the login --------------------------------------------------------------------


def _profile_text(draft: Draft) -> str:
    return render_toml(draft)


def _target(draft: Draft, client: GuardedClient, creds: Credentials) -> Target:
    env = {}
    for key in ("password_env", "token_env", "client_secret_env"):
        variable = draft.section("auth").get(key)
        if variable and creds.password is not None:
            env[str(variable)] = creds.password
    if creds.otp_secret_env and creds.otp_secret:
        env[creds.otp_secret_env] = creds.otp_secret
    profile = parse_profile(_profile_text(draft), env=env, check_files=False)
    return Target(profile, client)


def _confirm(
    draft: Draft, client: GuardedClient, creds: Credentials, doc: Doc, login: Login | None
) -> None:
    """Log in once with the draft (as ``preflight check`` would) and try the token on a route
    that needs one; an Authorization scheme the document does not name is found this way."""
    auth = draft.section("auth")
    if creds.password is None:
        return
    candidates = [auth.get("scheme")] if auth.get("scheme") is not None else []
    candidates += [s for s in ("Bearer", "Token", "JWT") if s not in candidates]
    if login is not None and login.header != "Authorization":
        candidates = [auth.get("scheme", "")]
    try:
        target = _target(draft, client, creds)
        session = target.session()
    except (LoginFailed, MissingSetting, ProfileError, httpx.HTTPError) as exc:
        raise LoginNotConfirmed(_profile_text(draft), _why(exc), draft) from exc
    what = "the static token" if login and login.style == "static" else "logged in"
    protected = _protected_url(draft)
    if protected is None:
        draft.notes.append(f"confirmed: {what}; no route to try the token on")
        return
    for scheme in candidates:
        headers = {login.header if login else "Authorization": f"{scheme} {session.access_token}"}
        if not scheme:
            headers = {next(iter(headers)): session.access_token}
        try:
            answer = client.get(draft.base_url + protected, headers=headers)
        except httpx.HTTPError:
            continue
        if answer.status_code == 200:
            if auth.get("scheme") != scheme and scheme is not None:
                auth.set("scheme", scheme, f"GET {protected} answered 200 with {scheme}")
            draft.notes.append(f"confirmed: {what}; GET {protected} answered 200 with the token")
            return
    raise LoginNotConfirmed(
        _profile_text(draft),
        f"{what}, but GET {protected} refused the token with every scheme tried "
        f"({', '.join(str(c) for c in candidates)})",
        draft,
    )


def _protected_url(draft: Draft) -> str | None:
    paths = draft.section("paths")
    for key in ("protected", "items"):
        value = paths.get(key)
        if value:
            return str(value)
    return None


def _why(exc: Exception) -> str:
    if isinstance(exc, LoginFailed):
        return exc.summary
    if isinstance(exc, MissingSetting):
        return f"the draft lacks {exc.setting}: {exc.why}"
    return f"{type(exc).__name__}: {exc}"


class LoginNotConfirmed(Exception):
    """A draft was made, but logging in with it did not work; ``draft_toml`` (and ``draft``,
    for callers that show it as a form) is still shown."""

    def __init__(self, draft_toml: str, why: str, draft: Draft | None = None) -> None:
        self.draft_toml = draft_toml
        self.why = why
        self.draft = draft
        super().__init__(why)


__all__ = [
    "Credentials",
    "DiscoveryFailed",
    "Doc",
    "LoginNotConfirmed",
    "blank_draft",
    "discover",
    "fetch_document",
    "render_toml",
]
