"""Database plumbing: declarative base, engine with SQLite WAL pragmas, sessions, migrations."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base for every Glasshouse table."""


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE`` for every transaction,
    so concurrent writers queue on the lock instead of failing on upgrade."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # let SQLAlchemy's begin event below issue BEGIN
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable against process crashes (kill -9) in WAL mode; only power loss can undo
            # the last commits. Set GLASSHOUSE_DATABASE_URL to a server database for more.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_current: ContextVar[Session | None] = ContextVar("glasshouse_transaction", default=None)
_before_commit: ContextVar[Callable[[Session], None] | None] = ContextVar(
    "glasshouse_before_commit", default=None
)
_AFTER_COMMIT = "glasshouse_after_commit"


@contextmanager
def before_commit(hook: Callable[[Session], None]) -> Iterator[None]:
    """While active, every outermost transaction in this context calls ``hook(session)`` just before it
    commits. The policy gate uses it to write its audit entry in the same commit as the action."""
    token = _before_commit.set(hook)
    try:
        yield
    finally:
        _before_commit.reset(token)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    Re-entrant: inside an open transaction (same thread or task) an inner ``transaction()`` joins it, so
    the governance gate can wrap a service's writes and the audit entry that records them in one commit.
    """
    outer = _current.get()
    if outer is not None:
        yield outer
        return
    with factory() as session:
        with session.begin():
            token = _current.set(session)
            try:
                yield session
                hook = _before_commit.get()
                if hook is not None:
                    hook(session)
            finally:
                _current.reset(token)
        for hook in session.info.pop(_AFTER_COMMIT, []):
            hook()


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the outermost transaction of ``session`` has committed (never on rollback).
    In-memory state that mirrors the database (the search index) is updated this way."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


def in_transaction() -> Session | None:
    """The session of the transaction open in this context, if any."""
    return _current.get()


def upgrade(url: str) -> None:
    """Bring the schema at ``url`` to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    command.upgrade(cfg, "head")
