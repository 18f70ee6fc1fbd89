"""Dynamic batching: concurrent requests' faces share one embedder call, a lone request never waits, a
request among others waits at most the bound, failures reach every caller, and results are exactly each
caller's own rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from glasshouse.engine.batching import EmbedBatcher
from glasshouse.engine.decode import decode_image
from glasshouse.engine.embed import OnnxResNetEmbedder
from glasshouse.engine.hardware import usable_cores
from glasshouse.engine.pipeline import EngineOptions, FaceEngine
from glasshouse.engine.types import Chips, Embeddings


class Recording:
    """A real (if simple) embedder: each chip's mean pixel per channel, padded to 128-d; records batches."""

    def __init__(self, seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, chips: Chips) -> Embeddings:
        with self.lock:
            self.calls.append(len(chips))
        time.sleep(self.seconds)
        out = np.zeros((len(chips), 128), dtype=np.float32)
        out[:, :3] = chips.reshape(len(chips), -1, 3).mean(axis=1)
        return out


def chips_of(value: int, n: int = 1) -> Chips:
    return np.full((n, 150, 150, 3), value, dtype=np.uint8)


def run_at_once(callers: list[Callable[[], None]]) -> None:
    start = threading.Barrier(len(callers))
    errors: list[BaseException] = []

    def go(call: Callable[[], None]) -> None:
        start.wait()
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(c,)) for c in callers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a caller hung"
    if errors:
        raise errors[0]


def test_concurrent_participants_are_embedded_in_one_call_and_get_their_own_rows() -> None:
    inner = Recording()
    batcher = EmbedBatcher(inner, wait_s=5.0, max_chips=64)
    results: dict[int, Embeddings] = {}
    arrived = threading.Barrier(6)

    def request(value: int) -> Callable[[], None]:
        def call() -> None:
            with batcher.participant():
                arrived.wait()  # all six are "detecting" before anyone submits
                time.sleep(0.01 * value)
                results[value] = batcher.embed(chips_of(value, n=1 + value % 2))

        return call

    run_at_once([request(v) for v in range(6)])
    assert inner.calls == [9], "six requests (nine chips) should be one call: nobody else was coming"
    for value, rows in results.items():
        assert rows.shape == (1 + value % 2, 128)
        np.testing.assert_array_equal(rows[:, :3], np.full((len(rows), 3), value, dtype=np.float32))


def test_with_a_runner_free_for_each_concurrent_requests_run_side_by_side_not_merged() -> None:
    """Two requests in flight and two runners (one-thread sessions on two cores): each is embedded in its
    own call, both calls at once. Merging them into one call on one thread would leave a core idle while
    the server admits no other analysis (its slots are about one per core)."""
    both_inside = threading.Barrier(2, timeout=10)
    inner = Recording()

    def embed(chips: Chips) -> Embeddings:
        both_inside.wait()  # broken (an error for the caller) unless the two calls overlap
        return inner(chips)

    batcher = EmbedBatcher(embed, wait_s=30.0, max_concurrent=2)
    arrived = threading.Barrier(2)
    results: dict[int, Embeddings] = {}

    def request(value: int) -> Callable[[], None]:
        def call() -> None:
            with batcher.participant():
                arrived.wait()  # both in flight before either submits: the old leader waited to merge
                results[value] = batcher.embed(chips_of(value))

        return call

    run_at_once([request(1), request(2)])
    assert sorted(inner.calls) == [1, 1]
    assert (batcher.batches, batcher.batched_requests) == (2, 2)
    for value, rows in results.items():
        np.testing.assert_array_equal(rows[:, :3], np.full((1, 3), value, dtype=np.float32))


def test_requests_queued_while_every_runner_is_busy_form_one_batch() -> None:
    """Batching where it pays: two runners busy, the requests that queue meanwhile share the next free one."""
    hold = {0: threading.Event(), 1: threading.Event()}
    inner = Recording()

    def embed(chips: Chips) -> Embeddings:
        value = int(chips[0, 0, 0, 0])
        if value in hold:
            hold[value].wait(30)  # requests 0 and 1 hold both runners until released
        return inner(chips)

    batcher = EmbedBatcher(embed, wait_s=30.0, max_concurrent=2)
    threads = [threading.Thread(target=batcher.embed, args=(chips_of(v),)) for v in range(4)]
    deadline = time.monotonic() + 30
    for t in threads[:2]:
        t.start()
    while batcher.batches < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    for t in threads[2:]:
        t.start()
    while batcher._chips_pending() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    hold[0].set()  # one runner frees up: the two queued requests go through it together
    threads[0].join(30)
    for t in threads[2:]:
        t.join(30)
    hold[1].set()
    for t in threads:
        t.join(30)
        assert not t.is_alive(), "a caller hung"
    assert sorted(inner.calls) == [1, 1, 2]
    assert batcher.batches == 3


def test_a_lone_request_does_not_wait_for_the_bound() -> None:
    batcher = EmbedBatcher(Recording(), wait_s=10.0)
    started = time.perf_counter()
    with batcher.participant():
        batcher.embed(chips_of(1))
    assert time.perf_counter() - started < 5.0  # the bound is 10 s: it was not waited for


def test_a_request_waits_at_most_the_bound_for_a_slow_one() -> None:
    batcher = EmbedBatcher(Recording(), wait_s=0.2)
    slow_inside = threading.Event()
    release = threading.Event()

    def slow() -> None:  # in flight, still "detecting", for a long time
        with batcher.participant():
            slow_inside.set()
            release.wait(30)

    thread = threading.Thread(target=slow)
    thread.start()
    try:
        assert slow_inside.wait(10)
        started = time.perf_counter()
        with batcher.participant():
            batcher.embed(chips_of(2))
        waited = time.perf_counter() - started
        assert 0.15 < waited < 5.0
    finally:
        release.set()
        thread.join(10)


def test_batches_respect_the_chip_limit() -> None:
    inner = Recording(seconds=0.05)
    batcher = EmbedBatcher(inner, wait_s=1.0, max_chips=4)
    arrived = threading.Barrier(5)

    def request() -> None:
        with batcher.participant():
            arrived.wait()
            batcher.embed(chips_of(3, n=2))

    run_at_once([request] * 5)
    assert sum(inner.calls) == 10 and max(inner.calls) <= 4


def test_a_failing_batch_fails_each_of_its_callers_and_the_next_batch_works() -> None:
    def broken(chips: Chips) -> Embeddings:
        raise RuntimeError("model exploded")

    batcher = EmbedBatcher(broken, wait_s=1.0)
    arrived = threading.Barrier(3)
    failures: list[str] = []

    def request() -> None:
        with batcher.participant():
            arrived.wait()
            try:
                batcher.embed(chips_of(4))
            except RuntimeError as exc:
                failures.append(str(exc))

    run_at_once([request] * 3)
    assert failures == ["model exploded"] * 3
    batcher._embed = Recording()  # the batcher is not stuck: a later call is served
    assert batcher.embed(chips_of(5)).shape == (1, 128)


@pytest.fixture(scope="module")
def photos(shared_data: Path) -> list[np.ndarray]:
    folder = shared_data / "face_recognition" / "examples"
    names = ("obama.jpg", "biden.jpg", "two_people.jpg", "lin-manuel-miranda.png")
    return [decode_image((folder / n).read_bytes()) for n in names]


def test_engine_batches_concurrent_analyses_with_the_same_embeddings(
    photos: list[np.ndarray], model_cache_dir: Path
) -> None:
    """Real models: four concurrent analyses give the same faces and embeddings as one at a time."""
    cores = usable_cores()  # an embedder on every core: one batch at a time, so all four meet in it
    options = EngineOptions(model_cache_dir=model_cache_dir, threads=cores, batch_wait_ms=10_000.0)
    engine = FaceEngine(options, embedder=OnnxResNetEmbedder(model_cache_dir, threads=cores))
    assert engine.batcher.max_concurrent == 1
    alone = [engine.analyse(p) for p in photos]
    before = engine.batcher.batches
    together: dict[int, list] = {}
    run_at_once([lambda i=i: together.__setitem__(i, engine.analyse(photos[i])) for i in range(len(photos))])
    assert engine.batcher.batches - before == 1  # the bound is long: all four wait for each other
    for i, faces in enumerate(alone):
        assert len(together[i]) == len(faces) > 0
        for a, b in zip(faces, together[i], strict=True):
            assert a.embedding is not None and b.embedding is not None
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)
