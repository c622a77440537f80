"""API contract checks: cursor pagination, error format, OpenAPI document, deprecation headers."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from checks.catalog._util import (
    ServiceFault,
    answered_item,
    create,
    created_id,
    delete_quietly,
    exchange,
    expect_created,
    expect_status,
    item_id_of,
    item_route,
    item_url,
    items_url,
    json_body,
    list_page,
    listing_items,
    unique_tag,
    verdict,
)
from checks.engine.login import MAX_LOGIN_WAIT_S
from checks.engine.outcome import MissingSetting, Verdict, errored, failed, passed, skipped
from checks.engine.registry import CheckSpec
from checks.engine.target import Target
from checks.engine.templates import find_path

# --- api.cursor_pagination ---

# A staging listing can be long and is walked with a tiny limit; past this the check gives up
# (error) rather than hammer the service.
MAX_PAGES = 2000


def _sort_key(t: Target, item: dict[str, Any]) -> tuple[Any, ...]:
    """(created_at, id) as the service orders them; timestamps compared as instants (a stamp
    without a zone is read as UTC, so one service's two spellings compare)."""
    raw = find_path(item, t.profile.resource.created_at_path)
    stamp: Any = raw
    if isinstance(raw, str):
        try:
            stamp = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
        except ValueError:
            stamp = raw
    return (stamp, item_id_of(t, item))


@dataclass
class _Walk:
    """What one walk over the listing saw, and which of our items it changed on the way."""

    t: Target
    ours: dict[Any, dict[str, Any]]  # id -> item as created, for the items this check made
    limit: int
    seen: list[dict[str, Any]] = field(default_factory=list)  # every item, in walk order
    pages: int = 0
    deleted: list[Any] = field(default_factory=list)
    added: list[Any] = field(default_factory=list)

    def ids(self) -> list[Any]:
        return [item_id_of(self.t, i) for i in self.seen]

    def seen_ours(self) -> list[Any]:
        return [i for i in self.ids() if i in self.ours]

    def unseen_ours(self) -> list[Any]:
        seen = set(self.seen_ours())
        ids = [i for i in self.ours if i not in seen and i not in self.deleted]
        return sorted(ids, key=lambda i: _sort_key(self.t, self.ours[i]))


def _burst(t: Target, headers: dict[str, str], tag: str, count: int) -> dict[Any, dict[str, Any]]:
    """Create ``count`` items back to back, so that several share a created_at."""
    made: dict[Any, dict[str, Any]] = {}
    for n in range(count):
        response = create(t, headers, f"{tag}-{n}")
        item_id = created_id(t, response)
        if item_id is not None:
            made[item_id] = _created_item(t, response)
            continue
        delete_quietly(t, headers, made)
        expect_created(t, response, f"POST {t.profile.paths.items}")
    return made


def _created_item(t: Target, response: httpx.Response) -> dict[str, Any]:
    item = answered_item(t, response)
    return item if isinstance(item, dict) else {}


def _disturb(t: Target, headers: dict[str, str], walk: _Walk, tag: str) -> None:
    """Mid-walk: delete two items already seen and one not yet seen, and create a new one.

    An offset cursor then silently skips an item (everything after a deleted one shifts left);
    a keyset cursor is unaffected. That is what tells the two apart. Two seen items, not one:
    the new item shares the burst's created_at second, so its random id may sort it before the
    walk's position, and that shift right would cancel a single deletion's shift left.
    """
    unseen = walk.unseen_ours()
    for item_id in (*walk.seen_ours()[:2], unseen[len(unseen) // 2]):
        response = t.http.delete(item_url(t, item_id), headers=headers)
        expect_status(response, t.profile.status.deleted, f"DELETE {item_route(t)} during the walk")
        walk.deleted.append(item_id)
    response = create(t, headers, f"{tag}-during-walk")
    walk.added.append(expect_created(t, response, f"POST {t.profile.paths.items} during the walk"))


def _walk(t: Target, headers: dict[str, str], walk: _Walk, tag: str) -> Verdict | None:
    """Follow next_cursor to the end; returns an error verdict if the walk never ends."""
    cursor: str | None = None
    cursors: set[str] = set()
    while walk.pages < MAX_PAGES:
        items, cursor, response = list_page(t, headers, limit=walk.limit, cursor=cursor)
        walk.pages += 1
        walk.seen.extend(items)
        if len(items) > walk.limit:
            raise ServiceFault(
                f"a page asked with limit={walk.limit} held {len(items)} items",
                response=exchange(response),
            )
        if cursor is None:
            return None
        if cursor in cursors:
            raise ServiceFault(
                f"next_cursor repeated on page {walk.pages}: the walk would never end",
                response=exchange(response),
            )
        cursors.add(cursor)
        if not walk.deleted and len(walk.seen_ours()) >= 2 and len(walk.unseen_ours()) >= 3:
            _disturb(t, headers, walk, tag)
    return errored(
        f"gave up after {MAX_PAGES} pages of {walk.limit} items without next_cursor null",
        pages=walk.pages,
    )


def _judge_walk(walk: _Walk) -> Verdict:
    t = walk.t
    counts = Counter(walk.ids())
    stable = [i for i in walk.ours if i not in walk.deleted]
    missing = [i for i in stable if counts[i] == 0]
    doubled = [i for i in [*walk.ours, *walk.added] if counts[i] > 1]
    keys = [_sort_key(t, i) for i in walk.seen]
    stamp = t.profile.resource.created_at_path
    shared = sum(
        n
        for n in Counter(find_path(i, stamp) for i in walk.ours.values() if stamp).values()
        if n > 1
    )
    evidence: dict[str, Any] = {
        "limit": walk.limit,
        "pages": walk.pages,
        "items_created": len(walk.ours) + len(walk.added),
        "items_sharing_created_at": shared,
        "deleted_during_walk": walk.deleted,
        "created_during_walk": walk.added,
    }
    if not walk.deleted:
        return errored("the walk ended before the check could change items during it", **evidence)
    if missing:
        return failed(
            f"{len(missing)} of {len(stable)} items that existed throughout the walk were never "
            "returned (after items were deleted mid-walk: an offset-based cursor?)",
            missing=[_brief(t, walk.ours[i]) for i in missing],
            **evidence,
        )
    if doubled:
        return failed(
            f"{len(doubled)} items were returned more than once",
            duplicated=[{"id": i, "times": counts[i]} for i in doubled],
            **evidence,
        )
    for n in range(1, len(keys) if stamp else 0):
        if _out_of_order(keys[n - 1], keys[n]):
            return failed(
                f"items out of (created_at, id) order at position {n} of the walk",
                before=_brief(t, walk.seen[n - 1]),
                after=_brief(t, walk.seen[n]),
                **evidence,
            )
    order = "in (created_at, id) order, " if stamp else ""
    return passed(
        f"walked {walk.pages} pages with limit={walk.limit}: each of the {len(stable)} items that "
        f"existed throughout appeared exactly once, {order}the cursor null at the end",
        **evidence,
    )


def _out_of_order(previous: tuple[Any, ...], current: tuple[Any, ...]) -> bool:
    try:
        return bool(previous > current)
    except TypeError:  # mixed id types: compare as text rather than give up
        return tuple(map(str, previous)) > tuple(map(str, current))


def _brief(t: Target, item: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item_id_of(t, item),
        "created_at": find_path(item, t.profile.resource.created_at_path),
    }


_NOT_CURSOR = {
    "offset": "offset ({offset}/{limit}) pagination",
    "page": "page-number ({page}/{limit}) pagination",
    "none": "no pagination (the whole listing in one answer)",
}


def _not_a_cursor(t: Target, headers: dict[str, str]) -> Verdict:
    """The profile says the listing pages by offset or page number (or not at all): that is
    the verdict, shown on one real page of the listing."""
    res = t.profile.resource
    params: dict[str, Any] = {}
    if res.pagination == "offset":
        params = {res.offset_param: 0, res.limit_param: t.profile.limits.page_size}
    elif res.pagination == "page":
        params = {res.page_param: 1, res.limit_param: t.profile.limits.page_size}
    response = t.http.get(items_url(t), headers=headers, params=params)
    what = f"GET {t.profile.paths.items}"
    expect_status(response, 200, what)
    listing_items(t, response, what)
    kind = _NOT_CURSOR[res.pagination].format(
        offset=res.offset_param, page=res.page_param, limit=res.limit_param
    )
    return failed(
        f"{kind}; the guide asks for a cursor (keyset) that stays stable while items are "
        "created and deleted",
        response=exchange(response),
        pagination=res.pagination,
    )


@verdict
def cursor_pagination(t: Target) -> Verdict:
    items_url(t)  # before logging in: a service without the route skips
    headers = t.auth_headers()
    if t.profile.resource.pagination != "cursor":
        return _not_a_cursor(t, headers)
    item_route(t)
    limit = t.profile.limits.page_size
    tag = unique_tag("pages")
    # Enough for the items to span the page where the walk reaches them plus two more.
    walk = _Walk(t=t, ours=_burst(t, headers, tag, 2 * limit + 3), limit=limit)
    try:
        stuck = _walk(t, headers, walk, tag)
        return stuck or _judge_walk(walk)
    finally:
        delete_quietly(t, headers, [*walk.ours, *walk.added])


# --- api.error_format ---


def _format_problem(response: httpx.Response) -> str | None:
    """Why a body is not {"error": {"code": str, "message": str, "details": any}}, or None."""
    body = json_body(response)
    if not isinstance(body, dict) or not isinstance(body.get("error"), dict):
        return "no top-level 'error' object"
    error = body["error"]
    if not isinstance(error.get("code"), str):
        return "error.code is not a string"
    if not isinstance(error.get("message"), str):
        return "error.message is not a string"
    if "details" not in error:
        return "error.details is missing"
    return None


def protected_url(t: Target) -> tuple[str, str]:
    """(URL, path) of a GET route that refuses requests without a valid token."""
    name = "protected" if t.profile.paths.protected is not None else "items"
    return t.route(name), getattr(t.profile.paths, name)


def _validation_probe(t: Target) -> httpx.Response:
    """A request that must fail validation. The login needs no token, so where the service
    has one its body validation is reachable by anyone; otherwise an authenticated listing
    with a limit that is not a number."""
    if t.profile.auth.logs_in_at_service and t.profile.paths.login:
        return t.http.post(t.route("login"), json={"username": 42})
    res = t.profile.resource
    return t.http.get(
        items_url(t), headers=t.auth_headers(), params={res.limit_param: "not-a-number"}
    )


def _error_samples(t: Target) -> tuple[list[tuple[str, set[int], httpx.Response]], list[str]]:
    """A 404, a 401 and a validation error; and the samples that could not be provoked,
    each naming the setting it lacks."""
    unknown = f"/preflight-no-such-route-{secrets.token_hex(4)}"
    samples = [("404", {404}, t.http.get(t.url(unknown)))]
    lacking: list[str] = []
    try:
        url, _path = protected_url(t)
        unauthenticated = set(t.profile.status.unauthenticated)
        samples.append(("401", unauthenticated, t.http.get(url)))
    except MissingSetting as missing:
        lacking.append(f"401 not provoked: missing setting {missing.setting}")
    try:
        samples.append(("validation", {400, 422}, _validation_probe(t)))
    except MissingSetting as missing:
        lacking.append(f"validation error not provoked: missing setting {missing.setting}")
    return samples, lacking


@verdict
def error_format(t: Target) -> Verdict:
    responses: list[dict[str, Any]] = []
    problems: list[str] = []
    samples, lacking = _error_samples(t)
    for label, wanted, response in samples:
        responses.append({"sample": label, **exchange(response)})
        what = f"{response.request.method} {response.request.url.path}"
        if response.status_code not in wanted:
            problems.append(
                f"{what} answered {response.status_code}, expected "
                + " or ".join(map(str, sorted(wanted)))
            )
        elif problem := _format_problem(response):
            problems.append(f"{label} ({what} → {response.status_code}): {problem}")
    evidence: dict[str, Any] = {"responses": responses}
    if lacking:
        evidence["not_judged"] = lacking
    if problems:
        return failed("; ".join(problems), **evidence)
    judged = ", ".join(label for label, _wanted, _response in samples)
    return passed(f"{judged} errors all use {{error: {{code, message, details}}}}", **evidence)


# --- api.openapi ---

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_PARAM = re.compile(r"\{[^}]*\}")


def _template(path: str) -> str:
    """ "/items/{item_id}" and "/items/{id}" name the same route."""
    return _PARAM.sub("{}", path.rstrip("/") or "/")


def reference_routes(t: Target) -> list[tuple[str, str]]:
    """(method, path template) of every reference route the service offers, with the
    profile's path overrides; a route set to "" is not offered, so not required. Items are
    updated with the profile's method (PUT or PATCH), and a service that logs in elsewhere
    (static token, external token endpoint) needs no login routes of its own."""
    p = t.profile.paths
    item = t.profile.resource.item_template(p.items)
    update = t.profile.resource.update_method.lower()
    own_login = t.profile.auth.logs_in_at_service
    routes = [
        ("get", p.health), ("get", p.ping_db), ("get", p.ready), ("get", p.version),
        ("get", p.metrics), ("post", p.login if own_login else ""),
        ("post", p.refresh if own_login else ""), ("post", p.otp_verify if own_login else ""),
        ("get", p.items), ("post", p.items), ("get", item), (update, item),
        ("delete", item), ("get", p.legacy_items),
    ]  # fmt: skip
    return [(method, path) for method, path in routes if path]


def _structure_problem(doc: Any) -> str | None:
    """The first way ``doc`` is not a structurally valid OpenAPI 3 document, or None."""
    if not isinstance(doc, dict):
        return "the document is not a JSON object"
    if not isinstance(doc.get("openapi"), str) or not re.fullmatch(r"3\.\d+\.\d+", doc["openapi"]):
        return f"'openapi' is {doc.get('openapi')!r}, expected a 3.x.y version string"
    info = doc.get("info")
    if not isinstance(info, dict) or not all(
        isinstance(info.get(k), str) for k in ("title", "version")
    ):
        return "'info' must be an object with string 'title' and 'version'"
    paths = doc.get("paths")
    if not isinstance(paths, dict):
        return "'paths' must be an object"
    for path, item in paths.items():
        if not str(path).startswith("/") or not isinstance(item, dict):
            return f"path {path!r} must start with / and map to an object"
        for method in HTTP_METHODS:
            if method in item and not isinstance(item[method], dict):
                return f"{method.upper()} {path} must be an operation object"
    return None


def fetch_openapi(t: Target) -> tuple[Any, httpx.Response]:
    response = t.http.get(t.route("openapi"))
    return json_body(response), response


@verdict
def openapi(t: Target) -> Verdict:
    doc, response = fetch_openapi(t)
    expect_status(response, 200, f"GET {t.profile.paths.openapi}")
    if problem := _structure_problem(doc):
        return failed(
            f"{t.profile.paths.openapi} is not valid OpenAPI 3: {problem}",
            response=exchange(response),
        )
    documented = {
        (method, _template(str(path)))
        for path, item in doc["paths"].items()
        for method in HTTP_METHODS
        if method in item
    }
    missing = [
        f"{m.upper()} {path}" for m, path in reference_routes(t)
        if (m, _template(path)) not in documented
    ]  # fmt: skip
    evidence = {"openapi": doc["openapi"], "documented_operations": len(documented)}
    if missing:
        return failed(
            f"{t.profile.paths.openapi} does not document {', '.join(missing)}",
            missing=missing,
            **evidence,
        )
    return passed(
        f"OpenAPI {doc['openapi']} document covers all "
        f"{len(reference_routes(t))} reference operations",
        **evidence,
    )


# --- api.deprecation ---

# Calling an operation just to read its headers must not change anything on the service.
SAFE_METHODS = ("get", "head")


def _deprecated_operations(doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (method, path)
        for path, item in doc.get("paths", {}).items()
        if isinstance(item, dict)
        for method in HTTP_METHODS
        if isinstance(item.get(method), dict) and item[method].get("deprecated") is True
    ]


def _optional_auth(t: Target) -> tuple[dict[str, str], MissingSetting | None]:
    """A token when the profile has credentials: deprecated routes may sit behind auth."""
    try:
        return t.auth_headers(), None
    except MissingSetting as missing:
        return {}, missing


@verdict
def deprecation(t: Target) -> Verdict:
    doc, response = fetch_openapi(t)
    if response.status_code != 200 or not isinstance(doc, dict):
        return errored(
            f"cannot tell which operations are deprecated: GET "
            f"{t.profile.paths.openapi} answered {response.status_code} "
            "without a JSON document",
            response=exchange(response),
        )
    operations = _deprecated_operations(doc)
    callable_ops = [(m, p) for m, p in operations if m in SAFE_METHODS and not _PARAM.search(p)]
    not_called = [f"{m.upper()} {p}" for m, p in operations if (m, p) not in callable_ops]
    if not callable_ops:
        why = (
            "marks no operation deprecated"
            if not operations
            else ("marks only operations that cannot be called safely as deprecated")
        )
        return skipped(f"the OpenAPI document {why}", not_called=not_called)
    headers, no_login = _optional_auth(t)
    answers = [t.http.request(m.upper(), t.url(p), headers=headers) for m, p in callable_ops]
    if no_login is not None and any(r.status_code in (401, 403) for r in answers):
        # A refusal says nothing about what the operation itself answers.
        raise MissingSetting(no_login.setting, "the deprecated operations require a login")
    lacking = [
        f"{r.request.method} {r.request.url.path} ({r.status_code}) lacks "
        + " and ".join(h for h in ("Deprecation", "Sunset") if h not in r.headers)
        for r in answers
        if "Deprecation" not in r.headers or "Sunset" not in r.headers
    ]
    evidence = {
        "responses": [exchange(r, "Deprecation", "Sunset", body=False) for r in answers],
        "not_called": not_called,
    }
    if lacking:
        return failed(
            "deprecated operation answered without headers: " + "; ".join(lacking), **evidence
        )
    return passed(
        f"{len(answers)} deprecated operation(s) answer with Deprecation and Sunset", **evidence
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        "api.cursor_pagination",
        "functional",
        "Cursor pagination is stable under concurrent writes",
        cursor_pagination,
        timeout_s=90.0 + MAX_LOGIN_WAIT_S,
    ),
    CheckSpec(
        "api.error_format",
        "http",
        "Errors use the standard error body",
        error_format,
        timeout_s=20.0 + MAX_LOGIN_WAIT_S,
    ),
    CheckSpec("api.openapi", "http", "OpenAPI 3 document covers the reference routes", openapi),
    CheckSpec(
        "api.deprecation",
        "http",
        "Deprecated operations send Deprecation and Sunset",
        deprecation,
        timeout_s=20.0 + MAX_LOGIN_WAIT_S,
    ),
)
