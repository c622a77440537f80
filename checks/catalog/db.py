"""Checklist items verified in the database (pymongo, read-only): see check-catalog.md.

Queries are explained with ``verbosity: queryPlanner``, which plans but never runs them, so
a check costs the deployment next to nothing and reads no documents. The only commands sent
are in ``_mongo.READ_COMMANDS``. An unreachable or silent server is ``error``, never ``fail``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from checks.catalog import _plans
from checks.catalog._mongo import (
    Deployment,
    MongoUnavailable,
    command,
    database_name,
    deployment,
    redact_uri,
)
from checks.engine.mongo_settings import HotQuery
from checks.engine.outcome import MissingSetting, Verdict, errored, failed, passed
from checks.engine.registry import CheckSpec
from checks.engine.target import Target

_NAMESPACE_NOT_FOUND = 26


def _mongo_check(check: Callable[[Target], Verdict]) -> Callable[[Target], Verdict]:
    """A server that cannot answer makes the check undecided (``error``), not failed."""

    @functools.wraps(check)
    def run(t: Target) -> Verdict:
        try:
            return check(t)
        except MongoUnavailable as exc:
            return errored(str(exc), deployment=_shown(t))

    return run


def _shown(t: Target) -> str | None:
    uri = t.profile.mongo.uri
    return None if uri is None else redact_uri(uri)


def _hot_queries(t: Target) -> tuple[HotQuery, ...]:
    deployment(t)  # no URI -> skip naming mongo.uri before anything else
    queries = t.profile.mongo.hot_queries
    if not queries:
        raise MissingSetting("mongo.hot_queries", "list the service's frequent queries")
    return queries


def _explain(t: Target, dep: Deployment, index: int, query: HotQuery) -> list[_plans.Plan]:
    """The winning plans of ``query``; explained once per run, shared by both plan checks."""

    def run() -> list[_plans.Plan]:
        find: dict[str, Any] = {"find": query.collection, "filter": query.filter}
        if query.sort:
            find["sort"] = dict(query.sort)
        if query.projection is not None:
            find["projection"] = query.projection
        if query.hint is not None:
            find["hint"] = query.hint
        reply = command(dep, database_name(dep), {"explain": find, "verbosity": "queryPlanner"})
        try:
            return _plans.winning_plans(reply)
        except ValueError as exc:
            raise MongoUnavailable(f"explain of {query.label}: {exc}") from None

    return t.shared(f"catalog.db.explain:{index}", run)


def _query_evidence(query: HotQuery, plans: list[_plans.Plan]) -> dict[str, Any]:
    return {
        "query": query.label,
        "collection": query.collection,
        "filter": query.filter,
        "sort": dict(query.sort) or None,
        "plan": _plans.trimmed(plans),
        "index": _plans.indexes_used(plans) or None,
    }


def _judge_queries(
    t: Target,
    queries: list[tuple[int, HotQuery]],
    bad_stage: str,
    what: str,
) -> Verdict:
    dep = deployment(t)
    bad: list[dict[str, Any]] = []
    good: list[dict[str, Any]] = []
    undecided: list[str] = []
    for index, query in queries:
        plans = _explain(t, dep, index, query)
        names = _plans.stage_names(plans)
        evidence = _query_evidence(query, plans)
        failing = next((s for s in (bad_stage, "COLLSCAN") if s in names), None)
        if failing is not None:
            bad.append({**evidence, "stage": failing, **(_plans.fix_for(query) or {})})
        elif names == {"EOF"}:
            undecided.append(query.label)
        else:
            good.append(evidence)
    if bad:
        first = bad[0]
        summary = (
            f"{len(bad)} of {len(queries)} hot queries {what}: {first['stage']} on "
            f"{first['collection']} ({first['query']})"
        )
        if "fix" in first:
            summary += f"; {first['fix']}"
        return failed(summary, deployment=dep.shown, failing=bad, passing=good)
    if undecided:
        return errored(
            f"explain found no collection for {', '.join(undecided)} (EOF plan): "
            "cannot judge index use; check mongo.database and the collection names",
            deployment=dep.shown,
            passing=good,
        )
    used = sorted({i for e in good for i in e["index"] or []})
    return passed(
        f"{len(good)} hot queries served by indexes ({', '.join(used)})",
        deployment=dep.shown,
        queries=good,
    )


@_mongo_check
def index_usage(t: Target) -> Verdict:
    queries = list(enumerate(_hot_queries(t)))
    return _judge_queries(t, queries, "COLLSCAN", "scan a whole collection")


@_mongo_check
def compound_index_sort(t: Target) -> Verdict:
    queries = [(i, q) for i, q in enumerate(_hot_queries(t)) if q.filter and q.sort]
    if not queries:
        raise MissingSetting("mongo.hot_queries", "no hot query has both a filter and a sort")
    return _judge_queries(t, queries, "SORT", "sort in memory (blocking SORT stage)")


@_mongo_check
def ttl_indexes(t: Target) -> Verdict:
    dep = deployment(t)
    collections = t.profile.mongo.ttl_collections
    if not collections:
        raise MissingSetting("mongo.ttl_collections", "list the short-lived collections")
    db = database_name(dep)
    found: dict[str, Any] = {}
    missing: dict[str, str] = {}
    for name in collections:
        try:
            reply = command(dep, db, {"listIndexes": name, "cursor": {"batchSize": 100}})
        except MongoUnavailable as exc:
            if exc.code != _NAMESPACE_NOT_FOUND:
                raise
            missing[name] = "collection does not exist"
            continue
        indexes = reply.get("cursor", {}).get("firstBatch", [])
        ttl = [i for i in indexes if isinstance(i, dict) and "expireAfterSeconds" in i]
        if ttl:
            found[name] = [
                {
                    "name": i.get("name"),
                    "key": i.get("key"),
                    "expireAfterSeconds": i["expireAfterSeconds"],
                }
                for i in ttl
            ]
        else:
            names = [str(i.get("name")) for i in indexes if isinstance(i, dict)]
            missing[name] = f"no TTL index among {', '.join(names) or 'no indexes'}"
    if missing:
        first = next(iter(missing))
        return failed(
            f"{len(missing)} of {len(collections)} short-lived collections have no TTL index: "
            f"{first} ({missing[first]}); create one with expireAfterSeconds on a date field",
            deployment=dep.shown,
            missing=missing,
            ttl_indexes=found,
        )
    return passed(
        f"every short-lived collection has a TTL index ({', '.join(collections)})",
        deployment=dep.shown,
        ttl_indexes=found,
    )


@_mongo_check
def write_concern(t: Target) -> Verdict:
    dep = deployment(t)
    hello = command(dep, "admin", {"hello": 1})
    shape = {k: hello.get(k) for k in ("setName", "msg", "isWritablePrimary", "secondary")}
    if hello.get("msg") == "isdbgrid":
        kind = "sharded cluster (mongos)"
    elif hello.get("setName"):
        kind = f"replica set {hello['setName']}"
    else:
        return failed(
            "standalone server: hello answered no setName, so no write can be acknowledged by "
            "a majority; deploy a replica set",
            deployment=dep.shown,
            hello=shape,
        )
    defaults = command(dep, "admin", {"getDefaultRWConcern": 1})
    concern = defaults.get("defaultWriteConcern")
    source = defaults.get("defaultWriteConcernSource")
    evidence = {
        "deployment": dep.shown,
        "hello": shape,
        "defaultWriteConcern": concern,
        "source": source,
    }
    w = concern.get("w") if isinstance(concern, dict) else None
    if w == "majority":
        return passed(f"{kind}; default write concern is majority ({source})", **evidence)
    return failed(
        f"{kind}; default write concern is w: {w if w is not None else 'unset'}, expected "
        "majority: run setDefaultRWConcern with defaultWriteConcern {w: 'majority'}",
        **evidence,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("db.index_usage", "db", "Hot queries use an index (no COLLSCAN)", index_usage, 30.0),
    CheckSpec(
        "db.compound_index_sort",
        "db",
        "Filter + sort queries use one compound index (no blocking SORT)",
        compound_index_sort,
        30.0,
    ),
    CheckSpec("db.ttl_indexes", "db", "Short-lived collections have a TTL index", ttl_indexes),
    CheckSpec(
        "db.write_concern",
        "db",
        "Replica set with default write concern majority",
        write_concern,
    ),
)
