"""A notes API on ``fastapi-users``: its SQLAlchemy adapter on aiosqlite and its JWT strategy.

As fastapi-users sets it up: ``POST /auth/jwt/login`` (``OAuth2PasswordRequestForm``,
username = e-mail; 400 ``LOGIN_BAD_CREDENTIALS``), ``/auth/register``, ``/users/me``, bearer
JWTs of 15 minutes with an audience and no refresh token, no scopes. The team's own notes
resource pages with a keyset cursor under its own names (``limit``/``after`` in, ``data``/
``next`` out), answers 201 on create, PATCH updates, 204 on delete, and sends security
headers from a small middleware. It has no health route, no rate limit, no request ids, no
metrics, no body-size limit, no idempotency keys; errors are FastAPI's ``{"detail": ...}``.

Environment: ``DATABASE_URL`` (sqlite+aiosqlite), ``PROBE_EMAIL``, ``PROBE_PASSWORD``,
``JWT_SECRET``.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users.db import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from pydantic import BaseModel, Field
from sqlalchemy import DateTime, ForeignKey, String, Uuid, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from tests.support.realsvc.serve import serve

DATABASE_URL = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///./notes.db")
SECRET = os.environ.get("JWT_SECRET") or secrets.token_urlsafe(32)


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class Note(Base):
    __tablename__ = "note"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    owner_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    content: Mapped[str] = mapped_column(String(5000), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


engine = create_async_engine(DATABASE_URL)
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: AsyncSession = Depends(get_async_session),  # noqa: B008 - as fastapi-users documents it
) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(
    user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),  # noqa: B008
) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db)


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


class UserUpdate(schemas.BaseUserUpdate):
    pass


bearer_transport = BearerTransport(tokenUrl="auth/jwt/login")


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    return JWTStrategy(secret=SECRET, lifetime_seconds=900)


auth_backend = AuthenticationBackend(
    name="jwt", transport=bearer_transport, get_strategy=get_jwt_strategy
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncGenerator[None, None]:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    async with async_session_maker() as session:
        manager = UserManager(SQLAlchemyUserDatabase(session, User))
        email = os.environ.get("PROBE_EMAIL", "probe@example.com")
        await manager.create(UserCreate(email=email, password=os.environ["PROBE_PASSWORD"]))
    yield
    await engine.dispose()


app = FastAPI(title="Notes", version="0.3.0", lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt", tags=["auth"])
app.include_router(
    fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth", tags=["auth"]
)
app.include_router(fastapi_users.get_users_router(UserRead, UserUpdate), prefix="/users")


@app.middleware("http")
async def security_headers(
    request: Request, call_next: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await call_next(request)
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(default="", max_length=5000)


class NotePatch(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    content: str | None = Field(default=None, max_length=5000)


class NoteOut(BaseModel):
    id: uuid.UUID
    title: str
    content: str
    created_at: datetime
    updated_at: datetime


class NotePage(BaseModel):
    data: list[NoteOut]
    next: str | None = Field(description="Opaque cursor of the next page; null on the last")


Session = Annotated[AsyncSession, Depends(get_async_session)]
Owner = Annotated[User, Depends(current_active_user)]


def _encode_cursor(note: Note) -> str:
    raw = f"{note.created_at.isoformat()}|{note.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        stamp, note_id = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        return datetime.fromisoformat(stamp), uuid.UUID(note_id)
    except ValueError:
        raise HTTPException(status_code=400, detail="Invalid cursor") from None


def _out(note: Note) -> NoteOut:
    return NoteOut.model_validate(note, from_attributes=True)


async def _own_note(session: AsyncSession, owner: User, note_id: uuid.UUID) -> Note:
    note = await session.get(Note, note_id)
    if note is None or note.owner_id != owner.id:
        raise HTTPException(status_code=404, detail="Note not found")
    return note


@app.get("/notes", response_model=NotePage, tags=["notes"])
async def list_notes(
    session: Session,
    owner: Owner,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
) -> NotePage:
    query = select(Note).where(Note.owner_id == owner.id)
    if after is not None:
        stamp, note_id = _decode_cursor(after)
        query = query.where(
            or_(Note.created_at > stamp, and_(Note.created_at == stamp, Note.id > note_id))
        )
    rows = list(
        (await session.scalars(query.order_by(Note.created_at, Note.id).limit(limit + 1))).all()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return NotePage(data=[_out(n) for n in rows], next=_encode_cursor(rows[-1]) if more else None)


@app.post("/notes", response_model=NoteOut, status_code=201, tags=["notes"])
async def create_note(payload: NoteIn, session: Session, owner: Owner) -> NoteOut:
    now = datetime.now(UTC)
    note = Note(owner_id=owner.id, created_at=now, updated_at=now, **payload.model_dump())
    session.add(note)
    await session.commit()
    return _out(note)


@app.get("/notes/{note_id}", response_model=NoteOut, tags=["notes"])
async def read_note(note_id: uuid.UUID, session: Session, owner: Owner) -> NoteOut:
    return _out(await _own_note(session, owner, note_id))


@app.patch("/notes/{note_id}", response_model=NoteOut, tags=["notes"])
async def update_note(
    note_id: uuid.UUID, payload: NotePatch, session: Session, owner: Owner
) -> NoteOut:
    note = await _own_note(session, owner, note_id)
    for key, value in payload.model_dump(exclude_unset=True).items():
        setattr(note, key, value)
    note.updated_at = datetime.now(UTC)
    await session.commit()
    return _out(note)


@app.delete("/notes/{note_id}", status_code=204, tags=["notes"])
async def delete_note(note_id: uuid.UUID, session: Session, owner: Owner) -> Response:
    note = await _own_note(session, owner, note_id)
    await session.delete(note)
    await session.commit()
    return Response(status_code=204)


if __name__ == "__main__":
    serve(app)
