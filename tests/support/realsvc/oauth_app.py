"""An items API shaped like the full-stack FastAPI template: ``OAuth2PasswordRequestForm``.

What it does as such services do: form login at ``/api/v1/login/access-token`` (400 on bad
credentials), ``OAuth2PasswordBearer`` (401 without a token, 403 "Could not validate
credentials" for a bad one), 8-day access tokens and no refresh token, items under
``/api/v1/items/`` (trailing slash) with ``skip``/``limit`` and a ``{"data", "count"}``
envelope, 200 on create, full-body PUT updates, 200 with a message on delete, FastAPI's
default ``{"detail": ...}`` errors, a health check at ``/api/v1/utils/health-check/``, CORS for
its own front end, a deprecated route marked only in the docs, the document at
``/api/v1/openapi.json``. What it lacks, as such services often do: rate limits, security
headers, request ids, metrics, a body-size limit, idempotency keys, cursors.

Environment: ``PROBE_EMAIL``, ``PROBE_PASSWORD``, ``JWT_SECRET``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, status
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

from tests.support.realsvc.serve import serve

API_V1_STR = "/api/v1"
ACCESS_TOKEN_EXPIRE_MINUTES = 60 * 24 * 8  # the template's default: eight days
ALGORITHM = "HS256"
SECRET_KEY = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)

reusable_oauth2 = OAuth2PasswordBearer(tokenUrl=f"{API_V1_STR}/login/access-token")


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)


class User(BaseModel):
    id: uuid.UUID
    email: str
    full_name: str | None = None
    is_active: bool = True


class Store:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, tuple[User, bytes, bytes]] = {}
        self.items: dict[uuid.UUID, dict[str, Any]] = {}

    def add_user(self, email: str, password: str) -> None:
        salt = secrets.token_bytes(16)
        user = User(id=uuid.uuid4(), email=email)
        self.users[email] = (user, salt, _hash(password, salt))

    def authenticate(self, email: str, password: str) -> User | None:
        found = self.users.get(email)
        if found is None:
            _hash(password, b"0" * 16)  # same cost either way
            return None
        user, salt, digest = found
        return user if hmac.compare_digest(_hash(password, salt), digest) else None


store = Store()
store.add_user(os.environ.get("PROBE_EMAIL", "probe@example.com"), os.environ["PROBE_PASSWORD"])


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


class ItemCreate(BaseModel):
    title: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class ItemUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=255)


class ItemPublic(BaseModel):
    id: uuid.UUID
    title: str
    description: str | None = None
    owner_id: uuid.UUID


class ItemsPublic(BaseModel):
    data: list[ItemPublic]
    count: int


class Message(BaseModel):
    message: str


def create_access_token(subject: str, expires_delta: timedelta) -> str:
    expire = datetime.now(UTC) + expires_delta
    return jwt.encode({"exp": expire, "sub": subject}, SECRET_KEY, algorithm=ALGORITHM)


def get_current_user(token: Annotated[str, Depends(reusable_oauth2)]) -> User:
    try:
        payload = jwt.decode(token, SECRET_KEY, algorithms=[ALGORITHM])
    except jwt.InvalidTokenError:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="Could not validate credentials"
        ) from None
    for user, _salt, _digest in store.users.values():
        if str(user.id) == payload.get("sub"):
            return user
    raise HTTPException(status_code=404, detail="User not found")


CurrentUser = Annotated[User, Depends(get_current_user)]

login_router = APIRouter(tags=["login"])


@login_router.post("/login/access-token")
def login_access_token(form_data: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """OAuth2 compatible token login, get an access token for future requests."""
    user = store.authenticate(email=form_data.username, password=form_data.password)
    if not user:
        raise HTTPException(status_code=400, detail="Incorrect email or password")
    if not user.is_active:
        raise HTTPException(status_code=400, detail="Inactive user")
    expires = timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)
    return Token(access_token=create_access_token(str(user.id), expires_delta=expires))


users_router = APIRouter(prefix="/users", tags=["users"])


@users_router.get("/me", response_model=User)
def read_user_me(current_user: CurrentUser) -> Any:
    return current_user


items_router = APIRouter(prefix="/items", tags=["items"])


@items_router.get("/", response_model=ItemsPublic)
def read_items(current_user: CurrentUser, skip: int = 0, limit: int = 100) -> Any:
    with store.lock:
        mine = [i for i in store.items.values() if i["owner_id"] == current_user.id]
    return ItemsPublic(data=[ItemPublic(**i) for i in mine[skip : skip + limit]], count=len(mine))


@items_router.get("/{id}", response_model=ItemPublic)
def read_item(current_user: CurrentUser, id: uuid.UUID) -> Any:
    item = store.items.get(id)
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    if item["owner_id"] != current_user.id:
        raise HTTPException(status_code=400, detail="Not enough permissions")
    return item


@items_router.post("/", response_model=ItemPublic)
def create_item(current_user: CurrentUser, item_in: ItemCreate) -> Any:
    item = {**item_in.model_dump(), "id": uuid.uuid4(), "owner_id": current_user.id}
    with store.lock:
        store.items[item["id"]] = item
    return item


@items_router.put("/{id}", response_model=ItemPublic)
def update_item(current_user: CurrentUser, id: uuid.UUID, item_in: ItemUpdate) -> Any:
    item = store.items.get(id)
    if not item:
        raise HTTPException(status_code=404, detail="Item not found")
    if item["owner_id"] != current_user.id:
        raise HTTPException(status_code=400, detail="Not enough permissions")
    item.update(item_in.model_dump(exclude_unset=True))
    return item


@items_router.delete("/{id}")
def delete_item(current_user: CurrentUser, id: uuid.UUID) -> Message:
    with store.lock:
        item = store.items.get(id)
        if not item:
            raise HTTPException(status_code=404, detail="Item not found")
        if item["owner_id"] != current_user.id:
            raise HTTPException(status_code=400, detail="Not enough permissions")
        del store.items[id]
    return Message(message="Item deleted successfully")


utils_router = APIRouter(prefix="/utils", tags=["utils"])


@utils_router.get("/health-check/")
async def health_check() -> bool:
    return True


@utils_router.get("/item-stats/", deprecated=True)
def item_stats(current_user: CurrentUser) -> dict[str, int]:
    """Superseded by ``count`` in the items listing; kept for the old dashboard."""
    return {"count": sum(1 for i in store.items.values() if i["owner_id"] == current_user.id)}


api_router = APIRouter()
api_router.include_router(login_router)
api_router.include_router(users_router)
api_router.include_router(items_router)
api_router.include_router(utils_router)

app = FastAPI(title="Full Stack FastAPI Project", openapi_url=f"{API_V1_STR}/openapi.json")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["http://localhost:5173"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)
app.include_router(api_router, prefix=API_V1_STR)

if __name__ == "__main__":
    serve(app)
