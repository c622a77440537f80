"""The check registry: every automated check Preflight knows, by its stable public key.

``REGISTRY`` is one plain dict built from each module's ``CHECKS`` tuple, in runbook order.
Keys never change meaning (docs/check-catalog.md); to add a check, write ``run(t) ->
Verdict`` in the module for its concern and list its ``CheckSpec`` in that module's
``CHECKS``. Nothing here imports Django.
"""

from __future__ import annotations

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

_MODULES = (smoke, api, auth, security, reliability, observability, db, repo)
_DRILLS = (load, chaos, alerts, rollout)  # runbook steps 4-6: isolated, so they run last

REGISTRY: dict[str, CheckSpec] = {
    spec.key: spec for module in (*_MODULES, *_DRILLS) for spec in module.CHECKS
}

__all__ = ["REGISTRY"]
