"""FastAPI dependencies shared by the routers: the app state, the caller, the scope gate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .auth import Principal, unauthorized
from .errors import ApiError
from .state import ServiceState, get_state
from .store import DatabaseUnavailable

StateDep = Annotated[ServiceState, Depends(get_state)]

# auto_error=False: a missing token must answer 401 in our error format, not FastAPI's 403.
bearer_scheme = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def current_principal(state: StateDep, credentials: BearerDep) -> Principal:
    if credentials is None:
        raise unauthorized("missing_token", "A bearer access token is required")
    return state.tokens.verify_access(credentials.credentials)


PrincipalDep = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Callable[..., Principal]:
    def check_scope(state: StateDep, principal: PrincipalDep) -> Principal:
        if scope not in principal.scopes and not state.config.has("no_scope_check"):
            raise ApiError(
                403,
                "insufficient_scope",
                f"This operation needs the {scope!r} scope",
                details={"required": scope, "granted": sorted(principal.scopes)},
                headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
            )
        return principal

    return check_scope


def require_db(state: StateDep) -> None:
    """Fail item routes fast during a db outage, even when the cache could still answer."""
    if state.drills.db_down:
        raise DatabaseUnavailable()


CanRead = Annotated[Principal, Depends(require_scope("items:read"))]
CanWrite = Annotated[Principal, Depends(require_scope("items:write"))]
