"""Dynamic batching: the faces of concurrent requests go through the embedder in one call.

Requests announce themselves with :meth:`EmbedBatcher.participant` while they detect; when one of them has
chips to embed it waits at most ``wait_s`` for the chips of participants still detecting, then one caller
(the leader) runs the whole batch and hands each caller its rows. Nobody else in flight → no wait at all,
so a lone request pays nothing and a request among others pays at most ``wait_s`` before its batch starts.
Up to ``max_concurrent`` batches run at once (cores / intra-op threads, so that a one-thread session still
uses every core); requests arriving while all runners are busy queue up and form the next batch.
Batching trades cores for throughput only when there are none to spare: while other runners are free, a
request neither waits for others nor takes theirs (two requests merged onto one one-thread run leave a core
idle, and the server admits only about as many analyses at once as it has cores); only the last free runner
waits up to ``wait_s`` and takes everything queued.
There is no background thread: callers run batches themselves, so nothing can hang at shutdown, and an
error in a batch is raised in every caller whose chips were in it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from glasshouse.engine.types import Chips, Embeddings


@dataclass(eq=False, slots=True)
class _Request:
    chips: Chips
    result: Embeddings | None = None
    error: BaseException | None = None
    done: bool = False
    rows: slice = field(default_factory=lambda: slice(0, 0))  # its rows in the batch


class EmbedBatcher:
    """Wraps an ``embed(chips) -> embeddings`` function; thread-safe; batches of at most ``max_chips``."""

    def __init__(
        self,
        embed: Callable[[Chips], Embeddings],
        *,
        wait_s: float,
        max_chips: int = 32,
        max_concurrent: int = 1,
    ) -> None:
        self._embed = embed
        self.wait_s = max(0.0, wait_s)
        self.max_chips = max(1, max_chips)
        self.max_concurrent = max(1, max_concurrent)
        self._cond = threading.Condition()
        self._pending: list[_Request] = []
        self._running = 0
        self._coming = 0  # participants in flight that have not submitted chips yet
        self._local = threading.local()
        #: Batches run and requests served: the benchmarks report the mean batch.
        self.batches = 0
        self.batched_requests = 0

    @contextmanager
    def participant(self) -> Iterator[None]:
        """Mark the calling thread as a request in flight that may soon submit chips."""
        if getattr(self._local, "state", None) is not None:
            yield  # nested (an analysis inside an analysis): already counted
            return
        with self._cond:
            self._coming += 1
        self._local.state = "coming"
        try:
            yield
        finally:
            with self._cond:
                if self._local.state == "coming":
                    self._coming -= 1
                    self._cond.notify_all()  # a leader waiting for this participant need not wait longer
            self._local.state = None

    def embed(self, chips: Chips) -> Embeddings:
        request = _Request(chips)
        with self._cond:
            if getattr(self._local, "state", None) == "coming":
                self._local.state = "submitted"
                self._coming -= 1
            self._pending.append(request)
            self._cond.notify_all()
            deadline = time.monotonic() + self.wait_s
            while not request.done:
                if self._running < self.max_concurrent and self._pending and self._pending[0] is request:
                    remaining = deadline - time.monotonic()
                    last_runner = self._running + 1 >= self.max_concurrent
                    if (
                        last_runner
                        and remaining > 0
                        and self._coming > 0
                        and self._chips_pending() < self.max_chips
                    ):
                        self._cond.wait(remaining)
                        continue
                    batch = self._take_batch()
                    self._running += 1
                    self._cond.notify_all()  # the next in line may lead another runner
                    self._cond.release()
                    try:
                        self._run(batch)
                    finally:
                        self._cond.acquire()
                        self._running -= 1
                        self._cond.notify_all()
                else:
                    self._cond.wait()
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result

    def _chips_pending(self) -> int:
        return sum(len(r.chips) for r in self._pending)

    def _take_batch(self) -> list[_Request]:
        """The head of the queue: an even share of it when several runners are free (each share runs on
        its own cores), all of it when this is the last free runner; at most ``max_chips`` chips."""
        free = self.max_concurrent - self._running
        share = -(-len(self._pending) // free)  # ceiling: every queued request gets a runner now
        batch: list[_Request] = []
        total = 0
        while (
            self._pending
            and len(batch) < share
            and (not batch or total + len(self._pending[0].chips) <= self.max_chips)
        ):
            request = self._pending.pop(0)
            request.rows = slice(total, total + len(request.chips))
            total += len(request.chips)
            batch.append(request)
        self.batches += 1
        self.batched_requests += len(batch)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        try:
            chips = batch[0].chips if len(batch) == 1 else np.concatenate([r.chips for r in batch])
            out = self._embed(chips)
            for r in batch:
                r.result = out[r.rows]
        except BaseException as exc:  # every caller in the batch sees the failure; none hangs
            for r in batch:
                r.error = exc
        finally:
            for r in batch:
                r.done = True
