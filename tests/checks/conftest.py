from __future__ import annotations

import pytest

from checks.models import StagingProfile
from checks.services import profiles


def profile_for(service, ref, *, extra: str = "") -> StagingProfile:
    toml = (
        f'[service]\nname = "{service.slug}"\nbase_url = "{ref.base_url}"\n'
        f'[auth]\nusername = "{ref.username}"\n{extra}'
    )
    return profiles.profile_save(
        service=service,
        toml=toml,
        new_secrets={"password": ref.password, "otp_secret": ref.otp_secret},
        clear=[],
        actor=None,
    )


@pytest.fixture
def staged_service(service, reference_service):
    """The lead's service with a profile pointing at a healthy reference service."""
    profile_for(service, reference_service)
    return service
