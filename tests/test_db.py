"""Transactions: re-entrant joining, after-commit hooks that never run on rollback, SQLite pragmas."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text

from glasshouse import db
from glasshouse.organisations.models import Organisation


@pytest.fixture
def sessions(tmp_path: Path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'g.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
    yield db.make_sessionmaker(engine)
    engine.dispose()


def _names(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    with sessions() as session:
        return list(session.scalars(select(Organisation.name).order_by(Organisation.name)))


def test_inner_transaction_joins_outer_and_hooks_run_after_the_outer_commit(sessions) -> None:  # type: ignore[no-untyped-def]
    ran: list[str] = []
    with db.transaction(sessions) as outer:
        outer.add(Organisation(name="a"))
        with db.transaction(sessions) as inner:
            assert inner is outer and db.in_transaction() is outer
            inner.add(Organisation(name="b"))
            db.after_commit(inner, lambda: ran.append("hook"))
        assert ran == []  # inner exit does not commit
    assert ran == ["hook"] and _names(sessions) == ["a", "b"]
    assert db.in_transaction() is None


def test_rollback_discards_inner_writes_and_hooks(sessions) -> None:  # type: ignore[no-untyped-def]
    ran: list[str] = []
    with pytest.raises(RuntimeError), db.transaction(sessions) as outer:
        with db.transaction(sessions) as inner:
            inner.add(Organisation(name="c"))
            db.after_commit(inner, lambda: ran.append("hook"))
        outer.flush()
        raise RuntimeError("boom")
    assert ran == [] and _names(sessions) == []


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_concurrent_first_use_creates_one_organisation(migrated_engine: Callable[[], Engine]) -> None:
    """Check-then-insert under ``db.serialise``: on PostgreSQL (READ COMMITTED) as on SQLite, eight writers
    racing to create the same organisation all get the one row, none an integrity error."""
    from glasshouse.organisations.service import get_or_create

    sessions = db.make_sessionmaker(migrated_engine())
    start = threading.Barrier(8)
    ids: list[str] = []
    errors: list[BaseException] = []

    def create() -> None:
        start.wait()
        try:
            with db.transaction(sessions) as session:
                ids.append(get_or_create(session, "acme").id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(ids) == 8 and len(set(ids)) == 1
    assert _names(sessions) == ["acme"]


def test_reads_do_not_wait_for_a_writer_in_progress(migrated_engine: Callable[[], Engine]) -> None:
    """A plain (read-only) session reads the last committed state while another thread's write transaction
    is still open: on SQLite it must not take the write lock (every request's key, organisation, policy
    and collection lookups would queue behind each other and behind every audit append)."""
    sessions = db.make_sessionmaker(migrated_engine())
    with db.transaction(sessions) as session:
        session.add(Organisation(name="committed"))
    writing = threading.Event()
    read_done = threading.Event()
    seen: list[list[str]] = []

    def read() -> None:
        writing.wait(30)
        seen.append(_names(sessions))
        read_done.set()

    reader = threading.Thread(target=read)
    reader.start()
    try:
        with db.transaction(sessions) as session:
            session.add(Organisation(name="uncommitted"))
            session.flush()  # the write lock is held from here until the commit
            writing.set()
            read_during_write = read_done.wait(20)
    finally:
        writing.set()
        reader.join(60)
    assert read_during_write, "the read waited for the writer's commit"
    assert seen == [["committed"]]
    assert _names(sessions) == ["committed", "uncommitted"]
