"""The RealWorld "Conduit" API as its FastAPI implementations build it.

Nested JSON login ``POST /api/users/login {"user": {"email", "password"}}`` answering
``{"user": {"email", "token", "username", "bio", "image"}}``; ``Authorization: Token <jwt>``
(an ``APIKeyHeader`` on ``Authorization`` that checks the prefix itself); week-long tokens, no
refresh; its own error shape ``{"errors": {"body": [...]}}`` for every error (401 on bad
credentials and tokens, 422 on validation); articles addressed by slug, wrapped in
``{"article": ...}``, 201 on create, partial PUT, 200 on delete, listed newest first with
``limit``/``offset`` as ``{"articles", "articlesCount"}``. The team added a login limit (10 a
minute per e-mail, 429 with Retry-After) and a health route; CORS is wide open with
credentials (Starlette then echoes any origin). No security headers, request ids, metrics,
body-size limit or idempotency keys.

Environment: ``PROBE_EMAIL``, ``PROBE_PASSWORD``, ``JWT_SECRET``, ``LOGIN_LIMIT``,
``LOGIN_WINDOW_S``.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, EmailStr, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from tests.support.realsvc.serve import serve

JWT_SECRET = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)
JWT_EXPIRE = timedelta(days=7)
JWT_TOKEN_PREFIX = "Token"
LOGIN_LIMIT = int(os.environ.get("LOGIN_LIMIT", "10"))
LOGIN_WINDOW_S = float(os.environ.get("LOGIN_WINDOW_S", "60"))


def _hash(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=2**12, r=8, p=1)


class Db:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users: dict[str, dict[str, Any]] = {}
        self.articles: dict[str, dict[str, Any]] = {}


db = Db()
_salt = secrets.token_bytes(16)
_probe_email = os.environ.get("PROBE_EMAIL", "probe@example.com")
db.users[_probe_email] = {
    "email": _probe_email,
    "username": _probe_email.split("@")[0],
    "bio": "",
    "image": None,
    "salt": _salt,
    "hash": _hash(os.environ["PROBE_PASSWORD"], _salt),
}


class LoginLimiter:
    """At most LOGIN_LIMIT attempts per e-mail in a sliding window; 429 past it."""

    def __init__(self) -> None:
        self.attempts: dict[str, deque[float]] = defaultdict(deque)
        self.lock = threading.Lock()

    def hit(self, key: str) -> None:
        now = time.monotonic()
        with self.lock:
            window = self.attempts[key]
            while window and window[0] <= now - LOGIN_WINDOW_S:
                window.popleft()
            if len(window) >= LOGIN_LIMIT:
                retry = max(1, math.ceil(window[0] + LOGIN_WINDOW_S - now))
                raise HTTPException(
                    status_code=429,
                    detail="too many login attempts",
                    headers={"Retry-After": str(retry)},
                )
            window.append(now)


limiter = LoginLimiter()


def _errors(status: int, *messages: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errors": {"body": list(messages)}}, status_code=status, headers=headers)


class UserLogin(BaseModel):
    email: EmailStr
    password: str


class LoginBody(BaseModel):
    user: UserLogin


class UserWithToken(BaseModel):
    email: str
    token: str
    username: str
    bio: str
    image: str | None


class UserResponse(BaseModel):
    user: UserWithToken


class ArticleIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=20000)
    tagList: list[str] = Field(default_factory=list)


class ArticleCreate(BaseModel):
    article: ArticleIn


class ArticleChanges(BaseModel):
    title: str | None = None
    description: str | None = None
    body: str | None = None


class ArticleUpdate(BaseModel):
    article: ArticleChanges


class Profile(BaseModel):
    username: str
    bio: str
    image: str | None
    following: bool = False


class Article(BaseModel):
    slug: str
    title: str
    description: str
    body: str
    tagList: list[str]
    createdAt: datetime
    updatedAt: datetime
    favorited: bool = False
    favoritesCount: int = 0
    author: Profile


class ArticleResponse(BaseModel):
    article: Article


class ArticlesList(BaseModel):
    articles: list[Article]
    articlesCount: int


api_key = APIKeyHeader(name="Authorization", auto_error=False)


def _token_for(email: str) -> str:
    claims = {"sub": email, "exp": datetime.now(UTC) + JWT_EXPIRE}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


def current_user(authorization: Annotated[str | None, Depends(api_key)]) -> dict[str, Any]:
    if not authorization:
        raise HTTPException(status_code=401, detail="authentication required")
    prefix, _, token = authorization.partition(" ")
    if prefix != JWT_TOKEN_PREFIX or not token:
        raise HTTPException(status_code=401, detail="unsupported authorization type")
    try:
        email = jwt.decode(token, JWT_SECRET, algorithms=["HS256"])["sub"]
    except (jwt.InvalidTokenError, KeyError):
        raise HTTPException(status_code=401, detail="could not validate credentials") from None
    user = db.users.get(email)
    if user is None:
        raise HTTPException(status_code=401, detail="could not validate credentials")
    return user


CurrentUser = Annotated[dict[str, Any], Depends(current_user)]
router = APIRouter(prefix="/api")


@router.post("/users/login", response_model=UserResponse, tags=["authentication"])
def login(body: LoginBody) -> Any:
    limiter.hit(body.user.email)
    user = db.users.get(body.user.email)
    candidate = _hash(body.user.password, user["salt"] if user else b"0" * 16)
    if user is None or not hmac.compare_digest(candidate, user["hash"]):
        raise HTTPException(status_code=401, detail="incorrect email or password")
    return {"user": {**user, "token": _token_for(user["email"])}}


@router.get("/user", response_model=UserResponse, tags=["users"])
def retrieve_current_user(user: CurrentUser, request: Request) -> Any:
    token = (request.headers.get("Authorization") or "").partition(" ")[2]
    return {"user": {**user, "token": token}}


@router.get("/health", tags=["health"])
def health() -> dict[str, str]:
    return {"status": "ok"}


def _slugify(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "article"


def _view(article: dict[str, Any]) -> dict[str, Any]:
    author = db.users[article["author"]]
    return {**article, "author": {**author, "following": False}}


@router.get("/articles", response_model=ArticlesList, tags=["articles"])
def list_articles(
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
    author: str | None = None,
) -> Any:
    with db.lock:
        found = sorted(db.articles.values(), key=lambda a: a["createdAt"], reverse=True)
    if author:
        found = [a for a in found if db.users[a["author"]]["username"] == author]
    return {
        "articles": [_view(a) for a in found[offset : offset + limit]],
        "articlesCount": len(found),
    }


@router.post("/articles", response_model=ArticleResponse, status_code=201, tags=["articles"])
def create_article(body: ArticleCreate, user: CurrentUser) -> Any:
    now = datetime.now(UTC)
    slug = f"{_slugify(body.article.title)}-{secrets.token_hex(3)}"
    article = {**body.article.model_dump(), "slug": slug, "createdAt": now, "updatedAt": now}
    article["author"] = user["email"]
    with db.lock:
        db.articles[slug] = article
    return {"article": _view(article)}


def _article(slug: str) -> dict[str, Any]:
    article = db.articles.get(slug)
    if article is None:
        raise HTTPException(status_code=404, detail="article not found")
    return article


@router.get("/articles/{slug}", response_model=ArticleResponse, tags=["articles"])
def retrieve_article(slug: str) -> Any:
    return {"article": _view(_article(slug))}


@router.put("/articles/{slug}", response_model=ArticleResponse, tags=["articles"])
def update_article(slug: str, body: ArticleUpdate, user: CurrentUser) -> Any:
    article = _article(slug)
    if article["author"] != user["email"]:
        raise HTTPException(status_code=403, detail="you are not the author of this article")
    article.update(body.article.model_dump(exclude_none=True), updatedAt=datetime.now(UTC))
    return {"article": _view(article)}


@router.delete("/articles/{slug}", tags=["articles"])
def delete_article(slug: str, user: CurrentUser) -> Response:
    article = _article(slug)
    if article["author"] != user["email"]:
        raise HTTPException(status_code=403, detail="you are not the author of this article")
    with db.lock:
        db.articles.pop(slug, None)
    return Response(status_code=200)


app = FastAPI(title="Conduit", version="1.0.0")
app.add_middleware(
    CORSMiddleware,
    allow_origins=["*"],
    allow_credentials=True,
    allow_methods=["*"],
    allow_headers=["*"],
)


@app.exception_handler(StarletteHTTPException)
async def http_error_handler(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    return _errors(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


@app.exception_handler(RequestValidationError)
async def validation_error_handler(_request: Request, exc: RequestValidationError) -> JSONResponse:
    messages = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    return _errors(422, *messages)


app.include_router(router)

if __name__ == "__main__":
    serve(app)
