"""What the service page shows of validation runs. The checks app owns runs; the portal
asks it through this one function so the dependency stays in one place."""

from __future__ import annotations

from typing import Any

from portal.models import Service


def validation_context(service: Service) -> dict[str, Any]:
    from checks import selectors  # checks depends on portal; import late, not at load

    return {
        "runs": selectors.recent_runs(service),
        "steps": selectors.available_steps(),
        "has_profile": selectors.profile_of(service) is not None,
    }
