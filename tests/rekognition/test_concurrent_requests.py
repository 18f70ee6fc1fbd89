"""Concurrent SearchFacesByImage requests reach the engine together and are computed side by side, each
still gated and audited: nothing on the server (a lock, a limiter, the database, the batcher) may serialise
them. Real server (uvicorn, in this process so the engine can be watched), real models, real database
(both backends); the watchers only wait for each other and record what they saw."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uvicorn

from aws_clients import make_client
from glasshouse.audit.service import AuditFilter
from glasshouse.bench.live_server import free_port
from glasshouse.config import Settings
from glasshouse.engine.centerface import CenterFaceDetector
from glasshouse.engine.embed import OnnxResNetEmbedder
from glasshouse.engine.hardware import usable_cores
from glasshouse.engine.models.builtin import DLIB
from glasshouse.engine.models.card import DETECTOR_ID
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.engine.types import Chips, Detection, Embeddings, RGBImage
from glasshouse.http.app import create_app
from glasshouse.services import Services

REGION = "eu-west-2"


class Together:
    """While armed, each call waits (at most ``timeout`` s) until ``n`` calls are inside at once."""

    def __init__(self, n: int = 2, timeout: float = 20.0) -> None:
        self.n, self.timeout = n, timeout
        self.armed = False
        self.inside = 0
        self.peak = 0
        self.met = 0  # calls that found the others inside with them
        self.cond = threading.Condition()

    @contextmanager
    def call(self) -> Iterator[None]:
        with self.cond:
            self.inside += 1
            self.peak = max(self.peak, self.inside)
            self.cond.notify_all()
            if self.armed and self.cond.wait_for(lambda: self.peak >= self.n, self.timeout):
                self.met += 1
        try:
            yield
        finally:
            with self.cond:
                self.inside -= 1


class WatchedDetector:
    model_id = DETECTOR_ID

    def __init__(self, inner: CenterFaceDetector, together: Together) -> None:
        self.inner, self.together = inner, together

    def detect(self, image: RGBImage) -> list[Detection]:
        with self.together.call():
            return self.inner.detect(image)


class WatchedEmbedder:
    model_id = DLIB.model_id

    def __init__(self, inner: OnnxResNetEmbedder, together: Together) -> None:
        self.inner, self.together = inner, together
        self.plan = inner.plan  # one thread: the engine runs as many batches at once as there are cores
        self.calls: list[int] = []

    def embed(self, chips: Chips) -> Embeddings:
        self.calls.append(len(chips))
        with self.together.call():
            return self.inner.embed(chips)


@contextmanager
def serving(svc: Services) -> Iterator[str]:
    """``create_app`` under uvicorn on a free loopback port, in a thread of this process."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(svc.settings, services=svc), host="127.0.0.1", port=port, log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(600):
            if server.started:
                break
            thread.join(0.1)
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def watched(settings: Settings, model_cache_dir: Path) -> Iterator[tuple[Services, Together, Together, Any]]:
    if usable_cores() < 2:
        pytest.skip("two analyses side by side need two cores (the server admits one per core)")
    detect_together, embed_together = Together(), Together()
    embedder = WatchedEmbedder(OnnxResNetEmbedder(model_cache_dir, threads=1), embed_together)
    engine = FaceEngine(
        # The batch wait is long on purpose: a request must not wait for a batch partner while a core is
        # free, however long the configured bound.
        EngineOptions(model_cache_dir=model_cache_dir, threads=1, batch_wait_ms=10_000.0),
        detector=WatchedDetector(CenterFaceDetector(model_cache_dir, threads=1), detect_together),
        embedder=embedder,
    )
    svc = Services(settings.model_copy(update={"default_region": REGION}), engine=engine)
    try:
        yield svc, detect_together, embed_together, embedder
    finally:
        svc.close()


def test_two_concurrent_searches_are_analysed_and_embedded_side_by_side_and_each_audited(
    watched: tuple[Services, Together, Together, WatchedEmbedder], shared_data: Path
) -> None:
    svc, detect_together, embed_together, embedder = watched
    examples = shared_data / "face_recognition" / "examples"
    key = svc.keys.create(svc.org_id("acme"))
    with serving(svc) as url:
        clients = [make_client(url, key.access_key_id, key.secret, REGION) for _ in range(2)]
        clients[0].create_collection(CollectionId="people")
        for name in ("obama", "biden"):
            clients[0].index_faces(
                CollectionId="people",
                Image={"Bytes": (examples / f"{name}.jpg").read_bytes()},
                ExternalImageId=name,
                MaxFaces=1,
            )
        before = len(embedder.calls)
        detect_together.armed = embed_together.armed = True
        probes = [(examples / "obama2.jpg").read_bytes(), (examples / "obama_small.jpg").read_bytes()]
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda pair: pair[0].search_faces_by_image(
                        CollectionId="people", Image={"Bytes": pair[1]}, FaceMatchThreshold=80
                    ),
                    zip(clients, probes, strict=True),
                )
            )
    for answer in answers:
        assert [m["Face"]["ExternalImageId"] for m in answer["FaceMatches"]] == ["obama"]
    assert detect_together.met == 2, "the second request reached the engine only after the first left it"
    assert embedder.calls[before:] == [1, 1], "the two requests' faces were embedded in one call"
    assert embed_together.met == 2, "the two requests' faces were embedded one after the other"
    searches = svc.audit.search(AuditFilter(action="face.search"))
    assert [(e.decision, e.details["outcome"]) for e in searches] == [("allow", "ok")] * 2
    assert svc.audit.verify().ok
    assert np.isfinite([m["Similarity"] for a in answers for m in a["FaceMatches"]]).all()
