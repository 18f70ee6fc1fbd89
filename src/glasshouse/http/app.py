"""The ASGI application: native REST endpoints (health, version) with an OpenAPI document."""

from __future__ import annotations

from contextlib import asynccontextmanager
from collections.abc import AsyncIterator

from fastapi import FastAPI
from sqlalchemy import text

from glasshouse import __version__
from glasshouse.config import Settings
from glasshouse.services import Services


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())
    svc = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if services is None:
            svc.close()

    app = FastAPI(title="Glasshouse", version=__version__, lifespan=lifespan)
    app.state.services = svc

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness and database reachability."""
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/version", tags=["operations"])
    def version() -> dict[str, str]:
        return {"version": __version__}

    return app
