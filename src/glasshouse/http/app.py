"""The ASGI application: the Rekognition-compatible API at ``POST /``, native REST endpoints for
operations (health, version, metrics) with an OpenAPI document at ``/openapi.json``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Scope

from glasshouse import __version__, web
from glasshouse.config import Settings
from glasshouse.errors import GlasshouseError
from glasshouse.faces.slots import return_large_blocks
from glasshouse.http.body_limit import BodyLimit, Refusal
from glasshouse.http.observability import Metrics, configure_logging
from glasshouse.http.throttle import TokenBuckets
from glasshouse.jobs.runner import InProcessRunner
from glasshouse.portal.rest import router as portal_router
from glasshouse.rekognition import validation
from glasshouse.rekognition.api import error_response as aws_error_response
from glasshouse.rekognition.api import router as rekognition_router
from glasshouse.rest.api import router as rest_router
from glasshouse.rest.media import router as media_router
from glasshouse.rest.redaction import router as redaction_router
from glasshouse.rest.video import router as video_router
from glasshouse.s3api.app import S3App, S3Dispatch
from glasshouse.services import Services
from glasshouse.testing import api as testing_api
from glasshouse.transparency import web as transparency_web
from glasshouse.web import auditor, auth_pages, console, operator, portal, review, video
from glasshouse.web import collections as collection_pages
from glasshouse.web import errors as web_errors
from glasshouse.web import redaction as redaction_pages


async def _sweep_retention(svc: Services, every: int) -> None:
    """Delete faces past their collection's retention period, now and every ``every`` seconds."""
    if every <= 0:
        return
    log = logging.getLogger("glasshouse.retention")
    while True:
        try:
            certificates = await run_in_threadpool(svc.retention.sweep)
            for c in certificates:
                log.info(
                    "retention sweep deleted %d faces from %s (certificate %s)",
                    c.face_count,
                    c.collection,
                    c.id,
                )
        except Exception:
            log.exception("retention sweep failed; retrying at the next interval")
        try:
            await run_in_threadpool(svc.portal.sweep_retention)  # owners' clips past their retention
        except Exception:
            log.exception("portal retention sweep failed; retrying at the next interval")
        try:
            await run_in_threadpool(svc.multipart.purge_stale)  # S3 multipart uploads left incomplete
        except Exception:
            log.exception("multipart upload sweep failed; retrying at the next interval")
        await asyncio.sleep(every)


async def _publish_checkpoints(svc: Services, every: int) -> None:
    """Sign the audit chain's head into the checkpoint file (served on the transparency page), now and
    every ``every`` seconds: the published heads catch a log wiped or swapped in the database."""
    if every <= 0:
        return
    log = logging.getLogger("glasshouse.audit")
    while True:
        try:
            checkpoint = await run_in_threadpool(svc.checkpoints.publish)
            log.info("audit checkpoint published: %d entries", checkpoint.size)
        except GlasshouseError as exc:  # refused: the log no longer extends what was published
            log.error("audit checkpoint refused: %s", exc.message)
        except Exception:
            log.exception("audit checkpoint not published; retrying at the next interval")
        await asyncio.sleep(every)


async def refuse_body(scope: Scope, refusal: Refusal) -> ASGIApp:
    """A body over its route's cap, in the shape of the surface addressed: AWS JSON on ``POST /`` (the
    Rekognition API), the error page under ``/ui``, REST JSON (413) elsewhere."""
    path = scope.get("path", "")
    if path == "/":
        return aws_error_response(
            "SerializationException", f"Request body is limited to {refusal.limit} bytes"
        )
    if web_errors.is_ui(path):
        return await web_errors.error_page(Request(scope), 413, refusal.message)
    return JSONResponse({"error": {"code": refusal.code, "message": refusal.message}}, status_code=413)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    settings = settings or (services.settings if services else Settings())
    svc = services or Services(settings)
    configure_logging(settings.log_level)
    return_large_blocks()  # decoded images' memory goes back to the OS after a burst (faces.slots)
    metrics = Metrics()
    buckets = TokenBuckets(settings.throttle_rate, settings.throttle_burst)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        validation.preload()  # compile every request validator before the first request
        svc.policies.load_file()  # a new policy version if the policy file changed since it was loaded
        sweeper = asyncio.create_task(_sweep_retention(svc, settings.retention_sweep_seconds))
        checkpoints = asyncio.create_task(_publish_checkpoints(svc, settings.audit_checkpoint_seconds))
        # Background jobs run here unless `glasshouse worker` processes run them (job_backend=celery).
        runner = InProcessRunner.start_for(svc) if settings.job_backend == "inprocess" else None
        yield
        sweeper.cancel()
        checkpoints.cancel()
        if runner is not None:
            await run_in_threadpool(runner.stop)
        if services is None:
            svc.close()

    # No /docs or /redoc: FastAPI's load Swagger UI and ReDoc from a CDN (blank offline, and outside any CSP
    # we could set); the registry's bundled Swagger UI (4.x) cannot render OpenAPI 3.1. /openapi.json stays.
    app = FastAPI(title="Glasshouse", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.services = svc
    app.include_router(rekognition_router(svc, metrics, buckets))
    app.include_router(rest_router)
    app.include_router(media_router)
    app.include_router(video_router)
    app.include_router(redaction_router)
    app.include_router(portal_router)
    app.include_router(testing_api.router)
    app.include_router(transparency_web.router)
    for pages in (auth_pages, operator, review, console, collection_pages, auditor, video, portal):
        app.include_router(pages.router)
    app.include_router(redaction_pages.router)
    # Leaflet before /static, which would shadow it.
    app.mount(portal.LEAFLET_PATH, portal.leaflet_files(), name="leaflet")
    app.mount("/static", StaticFiles(directory=Path(web.__file__).parent / "static"), name="static")
    # Every body counted against its route's cap before anything reads it (inside the security headers).
    app.add_middleware(BodyLimit, settings=settings, refuse=refuse_body)
    web_errors.install(app)  # GlasshouseError: the error page under /ui, REST JSON elsewhere
    # Requests signed for service s3 (any path, any method) go to the S3-compatible endpoint.
    app.add_middleware(S3Dispatch, s3=S3App(svc, metrics, buckets))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        """Browsers land on the UI; ``POST /`` is the Rekognition-compatible API."""
        return RedirectResponse("/ui/", status_code=303)

    @app.get("/health", tags=["operations"])
    def health() -> dict[str, str]:
        """Liveness and database reachability."""
        with svc.sessions() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok"}

    @app.get("/version", tags=["operations"])
    def version() -> dict[str, str]:
        return {"version": __version__}

    @app.get("/metrics", tags=["operations"])
    def prometheus() -> Response:
        """Requests, errors and latency per operation, Prometheus text format."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
