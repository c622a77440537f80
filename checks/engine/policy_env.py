"""The outbound policy read from the environment, for processes that do not set Django up
(``manage.py preflight``, checks/cli.py).

app/settings.py reads the same two variables with the defaults defined here, so the CLI and
the portal allow exactly the same destinations under the same environment.
"""

from __future__ import annotations

from collections.abc import Mapping

from checks.engine.http import DestinationPolicy

# Outside production checks may reach the machine itself (the reference service, tests).
LOOPBACK_ALLOWLIST = "127.0.0.0/8,::1,localhost"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class PolicyEnvError(ValueError):
    """A variable the policy reads holds a value it cannot use."""


def is_production(env: Mapping[str, str]) -> bool:
    name = env.get("PREFLIGHT_ENV", "dev")
    if name not in {"dev", "test", "production"}:
        raise PolicyEnvError(f"PREFLIGHT_ENV={name!r}: use dev, test or production")
    return name == "production"


def default_allowlist(production: bool) -> str:
    """``PREFLIGHT_OUTBOUND_ALLOWLIST`` when unset: nothing in production, loopback else."""
    return "" if production else LOOPBACK_ALLOWLIST


def default_allow_local_repos(production: bool) -> str:
    """``PREFLIGHT_ALLOW_LOCAL_REPOS`` when unset: off in production, on else."""
    return "0" if production else "1"


def policy_from_env(env: Mapping[str, str]) -> DestinationPolicy:
    production = is_production(env)
    raw = env.get("PREFLIGHT_OUTBOUND_ALLOWLIST", default_allowlist(production))
    local = env.get("PREFLIGHT_ALLOW_LOCAL_REPOS", default_allow_local_repos(production))
    if local.strip().lower() not in _TRUE | _FALSE:
        raise PolicyEnvError(
            f"PREFLIGHT_ALLOW_LOCAL_REPOS={local!r} is not a boolean (use 1/0, true/false)"
        )
    return DestinationPolicy(
        allow=[part.strip() for part in raw.split(",") if part.strip()],
        allow_local_repos=local.strip().lower() in _TRUE,
    )
