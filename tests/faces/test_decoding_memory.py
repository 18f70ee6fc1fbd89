"""Decoding memory is bounded under concurrency (issue 12, item 2): a server-wide number of analyses at once,
images reduced to working size as early as the decoder allows, memory handed back after a burst.

The big images are 6000x6600 16-bit RGBA PNGs (39.6 megapixels, under the 40 MP limit, about 4.4 MB) with a
real face (``obama2.jpg``) pasted in, so every answer can be checked against where the face was put.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import cv2
import numpy as np
import pytest
from botocore.config import Config
from PIL import Image

from glasshouse.errors import ThrottledError
from glasshouse.faces.slots import AnalysisSlots
from glasshouse.rekognition.errors import aws_error
from glasshouse.rest.errors import status_of
from keyed_server import KeyedServer, keyed_server
from memory import PeakRss

# Decoding memory and analysis slots do not depend on the database: run once, in the SQLite pass.
pytestmark = pytest.mark.no_database

MiB = 1024 * 1024
WIDTH, HEIGHT = 6000, 6600
FACE_AT = (2000, 2500)  # left, top of the pasted face
FACE_SCALE = 1.5


@dataclass(frozen=True)
class BigPng:
    data: bytes
    face_box: tuple[float, float, float, float]  # left, top, width, height as ratios of the image


@pytest.fixture(scope="module")
def big_png(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> BigPng:
    """A 39.6 MP 16-bit RGBA PNG, flat colour with a real face pasted in (alpha 0 down the left edge)."""
    face = np.asarray(Image.open(shared_data / "face_recognition" / "examples" / "obama2.jpg").convert("RGB"))
    face16 = cv2.resize(face, None, fx=FACE_SCALE, fy=FACE_SCALE).astype(np.uint16) * 257
    bgra = np.empty((HEIGHT, WIDTH, 4), np.uint16)
    bgra[...] = (40000, 45000, 50000, 65535)
    bgra[:, :200, 3] = 0  # a transparent band: composited onto white
    left, top = FACE_AT
    h, w = face16.shape[:2]
    bgra[top : top + h, left : left + w, :3] = face16[:, :, ::-1]
    ok, encoded = cv2.imencode(".png", bgra, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    assert ok and len(encoded) < 5 * 1024 * 1024, len(encoded)
    data = encoded.tobytes()
    assert Image.open(io.BytesIO(data)).size == (WIDTH, HEIGHT)
    return BigPng(data, (left / WIDTH, top / HEIGHT, w / WIDTH, h / HEIGHT))


def test_slots_bound_concurrent_analyses_and_throttle_after_the_wait() -> None:
    slots = AnalysisSlots(size=2, wait_seconds=0.2)
    inside = threading.Barrier(3)
    release = threading.Event()

    def hold() -> None:
        with slots.hold():
            inside.wait()
            release.wait(5)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for t in holders:
        t.start()
    inside.wait()  # both slots taken, side by side
    assert slots.busy == 2
    started = time.monotonic()
    with pytest.raises(ThrottledError), slots.hold():
        pass
    assert time.monotonic() - started >= 0.2
    release.set()
    for t in holders:
        t.join()
    with slots.hold():  # free again
        assert slots.busy == 1


def test_a_throttled_analysis_is_throttling_exception_and_429() -> None:
    error = ThrottledError("busy")
    assert aws_error(error)[:2] == (400, "ThrottlingException")  # boto3 retries it
    assert status_of(error) == 429


def test_slots_default_to_one_per_core() -> None:
    import os

    assert AnalysisSlots().size == len(os.sched_getaffinity(0))


_PEAK_SCRIPT = """
import resource, sys
from glasshouse.engine.decode import decode_image
data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = decode_image(data, max_bytes=len(data), max_side=int(sys.argv[2]))
print(image.shape[1], image.shape[0], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


def test_a_39_megapixel_16_bit_png_is_reduced_while_decoding(big_png: BigPng, tmp_path: Path) -> None:
    """One decode's peak: the 8-bit RGBA decode (158 MB) and strips, never the four full-size copies that
    converting the whole image used to make (~830 MB)."""
    path = tmp_path / "big.png"
    path.write_bytes(big_png.data)
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), "4096"], capture_output=True, text=True, check=True
    )
    width, height, peak_kib = (int(v) for v in out.stdout.split())
    assert (width, height) == (3000, 3300)
    assert peak_kib * 1024 < 260 * MiB, f"decoding peaked {peak_kib / 1024:.0f} MiB above the start"


def test_a_large_jpeg_is_decoded_at_reduced_scale(shared_data: Path) -> None:
    from glasshouse.engine.decode import decode_image

    data = (shared_data / "face_recognition" / "examples" / "obama-1080p.jpg").read_bytes()
    full = decode_image(data)
    reduced = decode_image(data, max_side=960)
    assert full.shape[:2] == (1080, 1920) and reduced.shape[:2] == (540, 960)  # DCT scaling, 1/2


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[KeyedServer]:
    # Queue rather than throttle here: a loaded 2-core test machine takes seconds per 39 MP decode.
    data = tmp_path_factory.mktemp("decode") / "var"
    with keyed_server(data, model_cache_dir, analysis_wait_seconds="600") as world:
        yield world


def _client(world: KeyedServer) -> Any:
    return boto3.client(
        "rekognition",
        endpoint_url=world.server.url,
        region_name="eu-west-2",
        aws_access_key_id=world.key_id,
        aws_secret_access_key=world.secret,
        config=Config(retries={"max_attempts": 1}, read_timeout=900, max_pool_connections=8),
    )


def test_eight_concurrent_39_megapixel_pngs_stay_under_2_gib_with_correct_answers(
    world: KeyedServer, big_png: BigPng, shared_data: Path
) -> None:
    source = (shared_data / "face_recognition" / "examples" / "obama.jpg").read_bytes()
    client = _client(world)
    client.detect_faces(Image={"Bytes": source})  # models loaded before measuring

    def compare(_: int) -> dict[str, Any]:
        answer: dict[str, Any] = client.compare_faces(
            SourceImage={"Bytes": source}, TargetImage={"Bytes": big_png.data}, SimilarityThreshold=80
        )
        return answer

    with PeakRss(world.server.process.pid) as rss, ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(compare, range(8)))
    after = rss.now()
    print(
        f"peak RSS {rss.peak / MiB:.0f} MiB (start {rss.baseline / MiB:.0f} MiB, after {after / MiB:.0f} MiB)"
    )
    assert rss.peak < 2 * 1024 * MiB, f"peak RSS {rss.peak / MiB:.0f} MiB"
    left, top, width, height = big_png.face_box
    for answer in answers:
        assert len(answer["FaceMatches"]) == 1 and answer["FaceMatches"][0]["Similarity"] >= 80
        box = answer["FaceMatches"][0]["Face"]["BoundingBox"]
        centre = (box["Left"] + box["Width"] / 2, box["Top"] + box["Height"] / 2)
        assert left < centre[0] < left + width and top < centre[1] < top + height, box
    # Memory goes back after the burst (it stayed at the peak before: 7.6 of 8.4 GiB).
    assert after - rss.baseline < 256 * MiB, f"{(after - rss.baseline) / MiB:.0f} MiB kept after the burst"
