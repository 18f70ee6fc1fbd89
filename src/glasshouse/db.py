"""Database plumbing: declarative base, engines (SQLite with WAL pragmas, or PostgreSQL through psycopg 3),
sessions, migrations, and the one cross-backend lock primitive (:func:`serialise`)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker


class Base(DeclarativeBase):
    """Declarative base for every Glasshouse table."""


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


#: PostgreSQL connection pool per process (each `glasshouse serve` / worker): enough for the request
#: threads and the job runner; size PostgreSQL's ``max_connections`` for nodes x (size + overflow).
PG_POOL_SIZE = 5
PG_MAX_OVERFLOW = 10
#: pgvector HNSW candidate list per search (recall@1 >= 0.99 on face embeddings: `glasshouse bench search`).
PG_HNSW_EF_SEARCH = 100


def normalise_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` URLs (and SQLAlchemy's psycopg2 default) use psycopg 3."""
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_postgresql(url: str) -> bool:
    return normalise_url(url).startswith("postgresql")


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite gets WAL, foreign keys and ``BEGIN IMMEDIATE`` for every
    :func:`transaction`, so concurrent writers queue on the lock instead of failing on upgrade; plain
    (read-only) sessions begin deferred and read their snapshot without the lock. PostgreSQL runs at READ
    COMMITTED: code that must not interleave with another writer says so (row locks, :func:`serialise`,
    unique constraints, conditional updates)."""
    url = normalise_url(url)
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
            # Only a unit of work (transaction(), the one way anything is written) takes the write lock at
            # once. A plain session only reads, and in WAL mode readers neither wait for the writer nor
            # block it: taking the lock for them queued every request's lookups (key, organisation,
            # policy, collection) behind each other and behind every audit append.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if _current.get() is not None else "BEGIN")

        return engine
    return create_engine(
        url,
        # pgvector's search defaults for every session, sent with the connection (no extra round trip per
        # query); see collections/pgvector_index.py. Unknown until the extension loads, which is fine.
        connect_args={
            "options": f"-c hnsw.ef_search={PG_HNSW_EF_SEARCH} -c hnsw.iterative_scan=strict_order"
        },
        pool_pre_ping=True,  # a restarted database or a dropped idle connection is noticed, not raised
        pool_size=PG_POOL_SIZE,
        max_overflow=PG_MAX_OVERFLOW,
        pool_recycle=1800,
    )


def serialise(session: Session, name: str) -> None:
    """Hold a lock named ``name`` until ``session``'s transaction ends, so check-then-write sequences
    (is the name free? what is the next version?) cannot interleave with another writer's.

    PostgreSQL: a transaction-scoped advisory lock; statements after it see what the previous holder
    committed (READ COMMITTED takes a fresh snapshot per statement). SQLite: a no-op, every
    :func:`transaction` already holds the database's write lock from its first statement (``BEGIN
    IMMEDIATE``).
    """
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(name.encode()) - 2**31  # a stable signed 32-bit key (Python's hash() is salted)
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


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
    # ``%`` is ConfigParser interpolation syntax (URL-encoded passwords and socket paths contain it).
    cfg.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    command.upgrade(cfg, "head")
