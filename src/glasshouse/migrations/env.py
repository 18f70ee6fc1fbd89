"""Alembic environment: runs migrations on the connection URL Glasshouse passes in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from glasshouse.schema import metadata

config = context.config
target_metadata = metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Several nodes starting at once: one migrates, the others wait, then find nothing to do
                # (PostgreSQL's DDL is transactional, so the lock covers the whole upgrade).
                connection.execute(text("SELECT pg_advisory_xact_lock(7418800010)"))
            context.run_migrations()
    engine.dispose()


run_migrations_online()
