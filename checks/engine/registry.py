"""Check specifications and selecting them by key or runbook step.

The registry itself is a plain ``dict[str, CheckSpec]`` built in ``checks/catalog``; this
module only defines the spec and the selection rules, so the engine never imports checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from checks.engine.outcome import Verdict
    from checks.engine.target import Target

STEPS: tuple[str, ...] = (
    "smoke",
    "functional",
    "http",
    "db",
    "repo",
    "nonfunctional",
    "observability",
    "rollout",
)


# What a check exercises. "drill": it disturbs the service on purpose (load, outages, alerts,
# a canary), runs isolated and is kept as a drill record; the launch gate requires every
# drill to have passed recently.
KINDS: tuple[str, ...] = ("http", "db", "repo", "drill")


@dataclass(frozen=True)
class CheckSpec:
    key: str  # stable public key, e.g. "smoke.health"
    step: str  # one of STEPS
    title: str
    run: Callable[[Target], Verdict]
    timeout_s: float = 20.0
    # Why the check must run last and alone, or "" when it may share the run with others.
    # Only a check that disturbs what other checks observe (a load test, an outage, injected
    # errors, a canary) runs alone, and it says so: the reason is shown by ``preflight check
    # --verbose`` and kept in its evidence (``isolated_because``). A check that only spends
    # its own budget (the rate-limit probe: a throwaway username, a session of its own) runs
    # with the others.
    isolated_because: str = ""
    kind: str = "http"  # one of KINDS

    @property
    def isolated(self) -> bool:
        return bool(self.isolated_because)


class UnknownCheck(LookupError):
    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"unknown check key: {key}")


class UnknownStep(LookupError):
    def __init__(self, step: str) -> None:
        self.step = step
        super().__init__(f"unknown step: {step} (known: {', '.join(STEPS)})")


def select_specs(
    registry: Mapping[str, CheckSpec],
    *,
    only: Sequence[str] | None = None,
    steps: Sequence[str] | None = None,
) -> list[CheckSpec]:
    """Specs matching both filters, in registry order; a filter left as None matches all.

    Unknown keys and steps raise rather than silently selecting nothing: a typo in CI must
    not turn into a green run.
    """
    for key in only or ():
        if key not in registry:
            raise UnknownCheck(key)
    known_steps = set(STEPS) | {spec.step for spec in registry.values()}
    for step in steps or ():
        if step not in known_steps:
            raise UnknownStep(step)
    wanted_keys = set(only) if only is not None else None
    wanted_steps = set(steps) if steps is not None else None
    return [
        spec
        for key, spec in registry.items()
        if (wanted_keys is None or key in wanted_keys)
        and (wanted_steps is None or spec.step in wanted_steps)
    ]
