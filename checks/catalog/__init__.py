"""The check registry: every automated check Preflight knows, by its stable public key.

``REGISTRY`` is one plain dict built from each module's ``CHECKS`` tuple, in runbook order.
Keys never change meaning (docs/check-catalog.md); to add a check, write ``run(t) ->
Verdict`` in the module for its concern and list its ``CheckSpec`` in that module's
``CHECKS``. Nothing here imports Django.
"""

from __future__ import annotations

from dataclasses import replace
from types import ModuleType

from checks.catalog import (
    alerts,
    api,
    auth,
    chaos,
    db,
    load,
    observability,
    reliability,
    repo,
    rollout,
    security,
    smoke,
)
from checks.engine.registry import CheckSpec

# Each module with the kind of its checks (CheckSpec.kind), in runbook order. The drills
# (runbook steps 4-6) are isolated, so they run last.
_MODULES: tuple[tuple[ModuleType, str], ...] = (
    (smoke, "http"),
    (api, "http"),
    (auth, "http"),
    (security, "http"),
    (reliability, "http"),
    (observability, "http"),
    (db, "db"),
    (repo, "repo"),
    (load, "drill"),
    (chaos, "drill"),
    (alerts, "drill"),
    (rollout, "drill"),
)

REGISTRY: dict[str, CheckSpec] = {
    spec.key: replace(spec, kind=kind) for module, kind in _MODULES for spec in module.CHECKS
}

__all__ = ["REGISTRY"]
