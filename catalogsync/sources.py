"""Where entities come from: a directory (or one file), a git repository, a Backstage catalog's
HTTP API. Each source is read in full before anything is written, so a source that fails half
way (a clone that times out, the API's third page answering 500) changes nothing.

- Directory / repository: every ``catalog-info.yaml`` (or ``.yml``) in the tree, and the files
  their ``Location`` entities point at, relative to the file (``./other.yaml``,
  ``../team/*.yaml`` stays inside the root; globs as Backstage allows them). Bounded: files,
  bytes per file, Location depth. A Location that points outside the root or at a URL is
  refused (with the reason), not followed.
- Repository: cloned once, read-only and shallow, by checks' guarded git clone
  (checks/catalog/repo/clone.py: the host judged by the outbound policy and pinned, no hooks,
  no credential helpers, size and time capped).
- HTTP: ``GET {base}/entities/by-query`` with ``limit`` and the ``cursor`` of each page
  (Backstage's documented paging), falling back to ``GET {base}/entities`` with ``limit`` and
  ``offset`` for a catalog too old to have it; a bearer token from the environment; through
  the guarded client (outbound allowlist, timeout, size cap, no redirects followed).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx

from catalogsync.descriptors import Entity, Refusal, Refused, documents, entity
from checks.catalog.repo.clone import Cloner, RepoUnavailable
from checks.engine.fields import ProfileError
from checks.engine.http import (
    DestinationPolicy,
    DestinationRefused,
    GuardedClient,
    ResponseTooLarge,
)
from checks.engine.repo_settings import parse_repo

CATALOG_FILES = ("catalog-info.yaml", "catalog-info.yml")
MAX_FILES = 2000
MAX_FILE_BYTES = 1024 * 1024
MAX_LOCATION_DEPTH = 5
PAGE_SIZE = 200
MAX_PAGES = 1000
# Only what is imported is asked for (Backstage ORs repeated filters); Locations, Users and the
# rest stay on the catalog's side.
API_FILTERS = ["kind=component", "kind=group"]
_SKIP_DIRS = {".git", "node_modules", ".venv", "venv", "__pycache__"}

Progress = Callable[[str], None]


class SourceFailed(Exception):
    """The source could not be read as a whole; nothing is imported from it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Reading:
    """What one source gave: entities in the order read, refusals, and the files read."""

    entities: list[tuple[str, Entity]] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def add(self, where: str, data: Any) -> None:
        try:
            self.entities.append((where, entity(data)))
        except Refused as exc:
            self.refusals.append(Refusal(where, exc.ref, exc.reason))


def _noop(_: str) -> None:
    return None


# --- files -----------------------------------------------------------------------------------


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def _catalog_files(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(files):
            if name in CATALOG_FILES:
                found.append(Path(folder) / name)
                if len(found) > MAX_FILES:
                    raise SourceFailed(f"more than {MAX_FILES} catalog files under {root}")
    return found


def read_tree(root: Path, *, start: Path | None = None, progress: Progress = _noop) -> Reading:
    """Entities from the catalog files under ``root`` (or from ``start``, one file, and what
    its Locations point at), following Locations inside ``root``."""
    root = root.resolve()
    reading = Reading()
    queue: list[tuple[Path, int]] = [(p, 0) for p in ([start] if start else _catalog_files(root))]
    seen: set[Path] = set()
    while queue:
        path, depth = queue.pop(0)
        path = path.resolve()
        if path in seen:
            continue
        seen.add(path)
        if len(seen) > MAX_FILES:
            raise SourceFailed(f"more than {MAX_FILES} files through Locations")
        rel = path.relative_to(root).as_posix()
        reading.files.append(rel)
        text = _read(path, rel, reading)
        if text is None:
            continue
        for item in documents(text, rel):
            if isinstance(item, Refusal):
                reading.refusals.append(item)
                continue
            where, data = item
            before = len(reading.entities)
            reading.add(where, data)
            if len(reading.entities) > before and reading.entities[-1][1].kind == "location":
                found = reading.entities[-1][1]
                for target in found.targets:
                    for target_path in _location_targets(
                        root, path, target, where, found, depth, reading
                    ):
                        queue.append((target_path, depth + 1))
        progress(f"read {rel}: {len(reading.entities)} entities so far")
    return reading


def _read(path: Path, rel: str, reading: Reading) -> str | None:
    try:
        if path.is_symlink() or not path.is_file():
            reading.refusals.append(Refusal(rel, "", "not a regular file"))
            return None
        if path.stat().st_size > MAX_FILE_BYTES:
            reading.refusals.append(Refusal(rel, "", f"larger than {MAX_FILE_BYTES} bytes"))
            return None
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        reading.refusals.append(Refusal(rel, "", "not UTF-8 text"))
    except OSError as exc:
        reading.refusals.append(Refusal(rel, "", f"cannot be read: {exc.strerror}"))
    return None


def _location_targets(
    root: Path, here: Path, target: str, where: str, found: Entity, depth: int, reading: Reading
) -> list[Path]:
    def refuse(reason: str) -> list[Path]:
        reading.refusals.append(Refusal(where, str(found.ref), f"target {target!r}: {reason}"))
        return []

    if depth + 1 > MAX_LOCATION_DEPTH:
        return refuse(f"Locations nested deeper than {MAX_LOCATION_DEPTH} are not followed")
    if urlsplit(target).scheme or target.startswith("/"):
        return refuse("only paths relative to the file are followed (no URLs, no absolute paths)")
    pattern = PurePosixPath(here.parent.relative_to(root).as_posix()) / target
    parts: list[str] = []
    for part in pattern.parts:
        if part == "..":
            if not parts:
                return refuse("it points outside the source")
            parts.pop()
        elif part != ".":
            parts.append(part)
    relative = "/".join(parts)
    if not any(ch in relative for ch in "*?["):
        path = root / relative
        if not _inside(root, path):
            return refuse("it points outside the source")
        if not path.is_file():
            return refuse("no such file")
        return [path]
    matches = sorted(
        p
        for p in root.glob(relative)
        if p.is_file()
        and _inside(root, p)
        and fnmatch.fnmatch(p.relative_to(root).as_posix(), relative)
    )
    if not matches:
        return refuse("matches no file")
    return matches


# --- a git repository ----------------------------------------------------------------------


def read_repository(
    url: str,
    policy: DestinationPolicy,
    *,
    ref: str | None = None,
    token: str | None = None,
    progress: Progress = _noop,
) -> Reading:
    """Clone (through the guarded clone) and read the tree; the clone is removed after."""
    table: dict[str, Any] = {"url": url, "timeout_s": 120.0}
    if ref:
        table["ref"] = ref
    try:
        settings = parse_repo(table, env={})
    except ProfileError as exc:
        raise SourceFailed(f"repository {url!r}: {exc}") from None
    if token and settings.url and settings.url.startswith("https://"):
        settings = dataclasses.replace(settings, token=token)
    workdir = Path(tempfile.mkdtemp(prefix="preflight-catalog-"))
    cloner = Cloner(settings, policy, workdir)
    try:
        progress(f"cloning {url}")
        repo = cloner.run()
        progress(f"cloned {url} at {repo.commit[:12]}")
        return read_tree(repo.root, progress=progress)
    except RepoUnavailable as exc:
        raise SourceFailed(exc.summary) from None
    finally:
        cloner.close()
        shutil.rmtree(workdir, ignore_errors=True)


# --- a Backstage catalog's API ----------------------------------------------------------------


def api_base(url: str) -> str:
    """The catalog API's base: ``https://host`` and ``https://host/api/catalog`` both work."""
    base = url.rstrip("/")
    return base if base.endswith("/api/catalog") else f"{base}/api/catalog"


def read_api(
    url: str,
    client: GuardedClient,
    *,
    token: str = "",
    page_size: int = PAGE_SIZE,
    max_entities: int = 20000,
    progress: Progress = _noop,
) -> Reading:
    """Every entity the catalog serves, page by page; SourceFailed on any failed page."""
    base = api_base(url)
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    reading = Reading()

    def get(path: str, params: dict[str, Any]) -> httpx.Response:
        try:
            return client.get(f"{base}{path}", params=params, headers=headers)
        except DestinationRefused as exc:
            raise SourceFailed(str(exc)) from None
        except ResponseTooLarge as exc:
            raise SourceFailed(f"a page is larger than {exc.limit} bytes") from None
        except httpx.HTTPError as exc:
            raise SourceFailed(f"{base}{path}: {type(exc).__name__}") from None

    def body(response: httpx.Response, what: str) -> Any:
        if response.status_code != 200:
            raise SourceFailed(f"{what} answered {response.status_code}")
        try:
            return response.json()
        except (ValueError, UnicodeDecodeError):
            raise SourceFailed(f"{what} did not answer JSON") from None

    def take(items: Any, page: int) -> None:
        if not isinstance(items, list):
            raise SourceFailed(f"page {page} has no list of entities")
        for i, item in enumerate(items):
            reading.add(f"page {page} item {i + 1}", item)
        if len(reading.entities) + len(reading.refusals) > max_entities:
            raise SourceFailed(
                f"more than {max_entities} entities (PREFLIGHT_CATALOG_MAX_ENTITIES)"
            )
        progress(f"page {page}: {len(reading.entities)} entities so far")

    first = get("/entities/by-query", {"limit": page_size, "filter": API_FILTERS})
    if first.status_code == 404:
        # An older catalog: the list endpoint with limit and offset.
        offset = 0
        for page in range(1, MAX_PAGES + 1):
            params = {"limit": page_size, "offset": offset, "filter": API_FILTERS}
            items = body(get("/entities", params), f"{base}/entities")
            take(items, page)
            if not isinstance(items, list) or len(items) < page_size:
                return reading
            offset += len(items)
        raise SourceFailed(f"more than {MAX_PAGES} pages")
    doc = body(first, f"{base}/entities/by-query")
    for page in range(1, MAX_PAGES + 1):
        if not isinstance(doc, dict):
            raise SourceFailed(f"page {page} is not a JSON object")
        take(doc.get("items"), page)
        cursor = (
            (doc.get("pageInfo") or {}).get("nextCursor")
            if isinstance(doc.get("pageInfo"), dict)
            else None
        )
        if not cursor:
            return reading
        doc = body(
            get("/entities/by-query", {"cursor": cursor, "limit": page_size}),
            f"{base}/entities/by-query (page {page + 1})",
        )
    raise SourceFailed(f"more than {MAX_PAGES} pages")
