"""Reading ``explain`` output: the winning plan in every shape MongoDB answers, and the fix.

Shapes handled (``queryPlanner.winningPlan``):
- classic engine: ``{stage, inputStage | inputStages}``
- slot-based engine (SBE, explainVersion "2"): ``{queryPlan: {stage, ...}, slotBasedPlan}``
- sharded (via mongos): ``{stage: SHARD_MERGE..., shards: [{shardName, winningPlan}]}``
  where each shard's winningPlan is itself classic or SBE.

The fix follows the ESR rule: equality fields of the filter first, then the sort fields with
their directions, then the range fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from checks.engine.mongo_settings import HotQuery

# Stages that read through an index (IDHACK and EXPRESS_* are the _id / single-index fast
# paths; COUNT_SCAN and DISTINCT_SCAN walk an index only).
INDEX_STAGES = frozenset(
    {"IXSCAN", "IDHACK", "COUNT_SCAN", "DISTINCT_SCAN", "EXPRESS_IXSCAN", "EXPRESS_IDHACK"}
)
_KEPT = ("stage", "indexName", "keyPattern", "direction", "sortPattern", "isMultiKey", "shardName")
_MAX_DEPTH = 8
# Filter operators that still pin a field to one value, so the field can lead an index.
_EQUALITY_OPS = {"$eq"}


@dataclass(frozen=True)
class Plan:
    """One winning plan: per shard when the deployment is sharded."""

    shard: str | None
    root: dict[str, Any]


def winning_plans(explain: dict[str, Any]) -> list[Plan]:
    planner = explain.get("queryPlanner")
    if not isinstance(planner, dict) or not isinstance(planner.get("winningPlan"), dict):
        raise ValueError("explain answered no queryPlanner.winningPlan")
    top: dict[str, Any] = planner["winningPlan"]
    if isinstance(top.get("shards"), list):
        plans = []
        for shard in top["shards"]:
            plan = shard.get("winningPlan") if isinstance(shard, dict) else None
            if isinstance(plan, dict):
                plans.append(Plan(str(shard.get("shardName", "?")), _unwrap(plan)))
        if not plans:
            raise ValueError("sharded explain answered no shard plans")
        return plans
    return [Plan(None, _unwrap(top))]


def _unwrap(plan: dict[str, Any]) -> dict[str, Any]:
    """The stage tree of a classic plan, or of an SBE plan's ``queryPlan``."""
    inner = plan.get("queryPlan")
    return inner if isinstance(inner, dict) else plan


def _children(node: dict[str, Any]) -> list[dict[str, Any]]:
    kids = [node["inputStage"]] if isinstance(node.get("inputStage"), dict) else []
    kids += [k for k in node.get("inputStages", []) or [] if isinstance(k, dict)]
    return kids


def stages(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every stage of a tree, root first."""
    yield node
    for child in _children(node):
        yield from stages(child)


def stage_names(plans: list[Plan]) -> set[str]:
    return {str(n.get("stage")) for p in plans for n in stages(p.root)}


def indexes_used(plans: list[Plan]) -> list[str]:
    names: list[str] = []
    for plan in plans:
        for node in stages(plan.root):
            if node.get("stage") in INDEX_STAGES:
                name = str(node.get("indexName") or ("_id_" if "IDHACK" in node["stage"] else "?"))
                if name not in names:
                    names.append(name)
    return names


def trimmed(plans: list[Plan]) -> Any:
    """The plan tree for evidence: stage names and index details only, depth-capped."""
    trees = [_trim(p.root, 0) for p in plans]
    if len(plans) == 1 and plans[0].shard is None:
        return trees[0]
    return [{"shardName": p.shard, "plan": tree} for p, tree in zip(plans, trees, strict=True)]


def _trim(node: dict[str, Any], depth: int) -> dict[str, Any]:
    kept = {k: node[k] for k in _KEPT if k in node}
    kids = _children(node)
    if kids and depth >= _MAX_DEPTH:
        kept["inputStages"] = "…"
    elif len(kids) == 1:
        kept["inputStage"] = _trim(kids[0], depth + 1)
    elif kids:
        kept["inputStages"] = [_trim(k, depth + 1) for k in kids]
    return kept


def _is_equality(value: Any) -> bool:
    if not isinstance(value, dict):
        return True  # {status: "paid"} (a literal, incl. a whole sub-document match)
    ops = [k for k in value if str(k).startswith("$")]
    return not ops or set(ops) <= _EQUALITY_OPS


def esr_index(query: HotQuery) -> list[tuple[str, int]]:
    """The index that serves ``query`` without a scan or a blocking sort (ESR order)."""
    fields = [(k, v) for k, v in query.filter.items() if not str(k).startswith("$")]
    keys: list[tuple[str, int]] = [(k, 1) for k, v in fields if _is_equality(v)]
    seen = {k for k, _ in keys}
    for name, direction in query.sort:
        if name not in seen:
            keys.append((name, direction))
            seen.add(name)
    keys += [(k, 1) for k, v in fields if k not in seen]
    return keys


def _key_text(keys: list[tuple[str, int]]) -> str:
    return "{" + ", ".join(f"{k}: {d}" for k, d in keys) + "}"


def fix_for(query: HotQuery) -> dict[str, str] | None:
    """``create index {status: 1, created_at: -1} on orders`` and the mongosh line for it."""
    keys = esr_index(query)
    if not keys:
        return None
    text = _key_text(keys)
    quoted = "{" + ", ".join(f'"{k}": {d}' for k, d in keys) + "}"
    return {
        "fix": f"create index {text} on {query.collection}",
        "fix_command": f'db.getCollection("{query.collection}").createIndex({quoted})',
    }
