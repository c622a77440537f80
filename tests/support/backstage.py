"""A Backstage software catalog for the import tests, in the shape of Backstage's own example
catalog (packages/catalog-model/examples: an ``all.yaml`` Location pointing at files of Groups
and Users, Systems and Domains, Components and APIs, several documents per file), written to
a directory; and a Backstage catalog API on loopback serving the same entities as the
documented JSON (``/api/catalog/entities/by-query`` with ``limit`` and ``cursor``, and the
older ``/api/catalog/entities`` with ``limit`` and ``offset``), behind a bearer token."""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

V1 = "backstage.io/v1alpha1"
TEAMS = [
    ("payments", "Payments"),
    ("checkout", "Checkout"),
    ("search", "Search & Discovery"),
    ("identity", "Identity"),
    ("platform", "Platform"),
    ("data", "Data Engineering"),
    ("mobile", "Mobile"),
    ("growth", "Growth"),
    ("support-tools", "Support Tools"),
    ("infra", "Infrastructure"),
]
SYSTEMS = ["commerce", "discovery", "accounts", "internal-platform", "analytics"]
LIFECYCLES = ["production", "experimental", "deprecated", "production", "production"]


def group(name: str, display: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "Group",
        "metadata": {"name": name, "description": f"The {display} team"},
        "spec": {
            "type": "team",
            "profile": {"displayName": display, "email": f"{name}@example.com"},
            "parent": "engineering",
            "children": [],
        },
    }


def user(name: str, team: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "User",
        "metadata": {"name": name},
        "spec": {
            "profile": {"displayName": name.title(), "email": f"{name}@example.com"},
            "memberOf": [team],
        },
    }


def system(name: str, owner: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "System",
        "metadata": {"name": name},
        "spec": {"owner": owner, "domain": "retail"},
    }


def component(name: str, owner: str, index: int, **overrides: Any) -> dict[str, Any]:
    repo = f"https://github.com/example/{name}"
    doc: dict[str, Any] = {
        "apiVersion": V1,
        "kind": "Component",
        "metadata": {
            "name": name,
            "title": name.replace("-", " ").title(),
            "description": f"{name} service",
            "annotations": {
                "backstage.io/source-location": f"url:{repo}/tree/main/",
                "backstage.io/techdocs-ref": "dir:.",
                "github.com/project-slug": f"example/{name}",
            },
            "tags": ["python", "fastapi"],
            "links": [
                {
                    "url": f"https://grafana.example.com/d/{name}",
                    "title": "Dashboard",
                    "icon": "dashboard",
                },
                {"url": f"https://runbooks.example.com/{name}", "title": "Runbook"},
            ],
        },
        "spec": {
            "type": "service",
            "lifecycle": LIFECYCLES[index % len(LIFECYCLES)],
            "owner": owner if index % 3 else f"group:default/{owner}",
            "system": SYSTEMS[index % len(SYSTEMS)],
            "providesApis": [f"{name}-api"],
        },
    }
    for key, value in overrides.items():
        doc["spec" if key in ("owner", "lifecycle", "system", "type") else "metadata"][key] = value
    return doc


def api(name: str, owner: str) -> dict[str, Any]:
    return {
        "apiVersion": V1,
        "kind": "API",
        "metadata": {"name": name},
        "spec": {
            "type": "openapi",
            "lifecycle": "production",
            "owner": owner,
            "definition": "openapi: 3.0.0",
        },
    }


def dump(docs: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


@dataclass
class Catalog:
    """The example catalog's valid entities, by file; malformed files are written apart."""

    files: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def entities(self) -> list[dict[str, Any]]:
        return [doc for docs in self.files.values() for doc in docs]

    def components(self) -> list[dict[str, Any]]:
        return [e for e in self.entities if e["kind"] == "Component"]

    def find(self, name: str) -> dict[str, Any]:
        return next(e for e in self.entities if e["metadata"]["name"] == name)

    def remove(self, name: str) -> None:
        for docs in self.files.values():
            docs[:] = [d for d in docs if d["metadata"]["name"] != name]


def example_catalog(components_per_team: int = 7) -> Catalog:
    """10 groups, 20 users, 5 systems, 70 components, 10 APIs: 115 entities."""
    catalog = Catalog()
    catalog.files["org.yaml"] = [group(n, d) for n, d in TEAMS] + [
        user(f"person{i:02d}", TEAMS[i % len(TEAMS)][0]) for i in range(20)
    ]
    catalog.files["systems.yaml"] = [system(s, TEAMS[i][0]) for i, s in enumerate(SYSTEMS)]
    index = 0
    for team, _ in TEAMS:
        docs = []
        for n in range(components_per_team):
            docs.append(component(f"{team}-svc-{n}", team, index))
            index += 1
        catalog.files[f"components/{team}.yaml"] = docs
    catalog.files["apis.yaml"] = [api(f"{t}-svc-0-api", t) for t, _ in TEAMS]
    return catalog


# What a real catalog also holds: descriptors Backstage itself would reject, and one Preflight
# cannot import. Each line: (file, YAML text, what the refusal must say).
MALFORMED: list[tuple[str, str, str]] = [
    (
        "components/broken.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: no-owner\n"
        "spec:\n  type: service\n  lifecycle: production\n",
        "spec.owner is missing",
    ),
    (
        "components/broken.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: owned-by-a-person\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: user:default/person01\n",
        "is a user: Preflight services belong to teams",
    ),
    (
        "components/broken.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: Orders API\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: payments\n",
        "metadata.name 'Orders API' is not valid",
    ),
    (
        "components/broken.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: sneaky-link\n"
        "  links:\n    - url: javascript:alert(1)\n      title: Click\n"
        "spec:\n  type: service\n  lifecycle: production\n  owner: payments\n",
        "metadata.links[0].url is not an http(s) URL",
    ),
    (
        "components/broken.yaml",
        "apiVersion: example.com/v9\nkind: Component\nmetadata:\n  name: alien\n",
        "is not a Backstage entity version",
    ),
    (
        "components/broken.yaml",
        "- just\n- a list\n",
        "the document is not a mapping",
    ),
    (
        "components/syntax.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: [unclosed\n",
        "not valid YAML",
    ),
    (
        "components/z-duplicate.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata:\n  name: payments-svc-0\n"
        "spec:\n  type: service\n  lifecycle: experimental\n  owner: search\n",
        "defined twice",
    ),
]
OUTSIDE_LOCATION = (
    "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: elsewhere\n"
    "spec:\n  type: url\n  targets:\n    - ../../../etc/passwd\n"
    "    - https://github.com/example/other/blob/main/catalog-info.yaml\n"
)


def write_catalog(root: Path, catalog: Catalog, *, malformed: bool = True) -> Path:
    """The catalog as files under ``root``; returns all.yaml (the Location of everything)."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, docs in catalog.files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dump(docs))
    targets = [f"./{rel}" for rel in catalog.files if not rel.startswith("components/")]
    targets.append("./components/*.yaml")
    extra: dict[str, list[str]] = {}
    if malformed:
        for rel, text, _ in MALFORMED:
            extra.setdefault(rel, []).append(text)
        for rel, texts in extra.items():
            (root / rel).write_text("---\n".join(texts))
    location = {
        "apiVersion": V1,
        "kind": "Location",
        "metadata": {"name": "example-catalog", "description": "All the example entities"},
        "spec": {"type": "url", "targets": targets},
    }
    text = dump([location]) + ("---\n" + OUTSIDE_LOCATION if malformed else "")
    (root / "all.yaml").write_text(text)
    return root / "all.yaml"


# --- the Backstage catalog API ----------------------------------------------------------------


class CatalogApi:
    """The documented entity JSON over real HTTP on loopback, paged; ``fail_page`` makes that
    page answer 500; ``legacy`` serves only the older list endpoint."""

    def __init__(self, entities: list[dict[str, Any]], *, token: str, legacy: bool = False) -> None:
        self.entities = entities
        self.token = token
        self.legacy = legacy
        self.fail_page: int | None = None
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def _served(self) -> list[dict[str, Any]]:
        """As a catalog serves them: processed entities carry uid, etag, relations."""
        out = []
        for i, e in enumerate(self.entities):
            meta = {**e["metadata"], "namespace": e["metadata"].get("namespace", "default")}
            meta |= {"uid": f"uid-{i}", "etag": f"etag-{i}"}
            out.append({**e, "metadata": meta, "relations": []})
        return out

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def _json(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                api.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {api.token}":
                    self._json(
                        401, {"error": {"name": "AuthenticationError", "message": "No token"}}
                    )
                    return
                parts = urlsplit(self.path)
                multi = parse_qs(parts.query)
                query = {k: v[0] for k, v in multi.items()}
                served = api._served()
                if "cursor" in query:  # the cursor carries the first request's filters
                    multi["filter"] = json.loads(base64.urlsafe_b64decode(query["cursor"]))[
                        "filter"
                    ]
                kinds = {
                    f.split("=", 1)[1].lower()
                    for f in multi.get("filter", [])
                    if f.startswith("kind=")
                }
                if kinds:
                    served = [e for e in served if e["kind"].lower() in kinds]
                limit = int(query.get("limit", "20"))
                if parts.path == "/api/catalog/entities/by-query" and not api.legacy:
                    offset = 0
                    if "cursor" in query:
                        offset = json.loads(base64.urlsafe_b64decode(query["cursor"]))["offset"]
                    page = offset // limit + 1
                    if page == api.fail_page:
                        self._json(500, {"error": {"name": "Error", "message": "boom"}})
                        return
                    items = served[offset : offset + limit]
                    info: dict[str, str] = {}
                    if offset + limit < len(served):
                        nxt = json.dumps(
                            {"offset": offset + limit, "filter": multi.get("filter", [])}
                        ).encode()
                        info["nextCursor"] = base64.urlsafe_b64encode(nxt).decode()
                    if offset:
                        back = {"offset": max(offset - limit, 0), "filter": multi.get("filter", [])}
                        prev = json.dumps(back).encode()
                        info["prevCursor"] = base64.urlsafe_b64encode(prev).decode()
                    self._json(200, {"items": items, "totalItems": len(served), "pageInfo": info})
                elif parts.path == "/api/catalog/entities":
                    offset = int(query.get("offset", "0"))
                    self._json(200, served[offset : offset + limit])
                else:
                    self._json(404, {"error": {"name": "NotFoundError", "message": "no route"}})

        return Handler

    def __enter__(self) -> CatalogApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
