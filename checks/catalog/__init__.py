"""The check registry: every automated check Preflight knows, by its stable public key.

``REGISTRY`` is one plain dict built from each module's ``CHECKS`` tuple, in runbook order.
Keys never change meaning (docs/check-catalog.md); to add a check, write ``run(t) ->
Verdict`` in the module for its concern and list its ``CheckSpec`` in that module's
``CHECKS``. Nothing here imports Django.

The modules are imported when first needed, not when this package is: the CLI asks
:func:`registry_for` for the few modules its ``--only``/``--steps`` can match, so a run of the
HTTP checks never imports pymongo, detect-secrets, Locust's helpers or the drills' hooks
(``preflight check`` starts its first check within a few hundred milliseconds). A key's
module is the part before its dot (``security.rate_limit`` lives in ``security``); the
steps each module holds are listed below and tests/catalog/test_catalog_registry.py keeps
both true.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from checks.engine.registry import CheckSpec

# Each module, the kind of its checks (CheckSpec.kind) and the runbook steps its checks
# belong to, in runbook order. The drills (runbook steps 4-6) are isolated, so they run last.
MODULES: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("smoke", "http", frozenset({"smoke"})),
    ("api", "http", frozenset({"functional", "http"})),
    ("auth", "http", frozenset({"functional"})),
    ("security", "http", frozenset({"functional", "http"})),
    ("reliability", "http", frozenset({"http"})),
    ("observability", "http", frozenset({"http"})),
    ("db", "db", frozenset({"db"})),
    ("repo", "repo", frozenset({"repo"})),
    ("load", "drill", frozenset({"nonfunctional"})),
    ("chaos", "drill", frozenset({"nonfunctional"})),
    ("alerts", "drill", frozenset({"observability"})),
    ("rollout", "drill", frozenset({"rollout"})),
)

_loaded: dict[str, tuple[CheckSpec, ...]] = {}


def _specs(name: str, kind: str) -> tuple[CheckSpec, ...]:
    if name not in _loaded:
        module = importlib.import_module(f"checks.catalog.{name}")
        _loaded[name] = tuple(replace(spec, kind=kind) for spec in module.CHECKS)
    return _loaded[name]


def registry_for(
    only: Sequence[str] | None = None, steps: Sequence[str] | None = None
) -> dict[str, CheckSpec]:
    """The registry narrowed to the modules that can hold checks matching ``only`` (keys)
    and ``steps``, in runbook order; ``None`` matches everything. Selecting within it
    (``checks.engine.registry.select_specs``) gives exactly what the full registry would: a
    key whose module is not loaded is unknown in both."""
    # Named keys decide alone: each must be found (or refused) even outside ``steps``.
    modules = {key.partition(".")[0] for key in only} if only is not None else None
    wanted_steps = set(steps) if steps is not None and only is None else None
    return {
        spec.key: spec
        for name, kind, module_steps in MODULES
        if (modules is None or name in modules)
        and (wanted_steps is None or module_steps & wanted_steps)
        for spec in _specs(name, kind)
    }


if TYPE_CHECKING:
    REGISTRY: dict[str, CheckSpec]


def __getattr__(name: str) -> Any:
    """``REGISTRY``, every module loaded, built on first use (PEP 562)."""
    if name == "REGISTRY":
        registry = registry_for()
        globals()["REGISTRY"] = registry
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["MODULES", "REGISTRY", "registry_for"]
