"""The server-wide budget for decoded pixels: at most ``size`` images are decoded and analysed at once.

A decoded image costs far more than its bytes (a 5 MB PNG may hold 40 megapixels: 160 MB as RGBA), so the
number of analyses in flight is what bounds a server's memory, whichever surface the images came from. Callers
past the limit wait their turn for at most ``wait_seconds``, then get :class:`ThrottledError` (Rekognition
``ThrottlingException``, REST 429), which clients retry. The limit is a count, not a lock: ``size`` analyses
(one per core by default) still run side by side, and batch their work where the engine can.

Memory goes back after a burst. glibc keeps freed memory in a heap per thread, and after the first large free
it stops giving large blocks their own mappings: every worker thread that ever analysed a large image would
keep its peak (measured: 4 analyses of a 39 MP PNG, 2 at a time, grew the process by 1.1 GiB; 0.56 GiB with
:func:`return_large_blocks`). So the server fixes the mmap threshold (blocks of 1 MiB and more are mapped and
unmapped, never kept), and when the last analysis in flight finishes, the rest is trimmed (``malloc_trim``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from glasshouse.errors import ThrottledError

#: At most one trim per this many seconds (it walks the heap: about a millisecond, more after a burst).
TRIM_INTERVAL_S = 1.0


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    trim = getattr(_libc(), "malloc_trim", None)  # glibc only
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


#: glibc ``mallopt`` parameter: allocations at least this large are mapped on their own.
_M_MMAP_THRESHOLD = -3


@functools.cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def return_large_blocks(threshold: int = 1024 * 1024) -> bool:
    """Process-wide: blocks of ``threshold`` bytes and more go back to the operating system when freed
    (glibc; elsewhere nothing changes and this answers False)."""
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    return bool(mallopt is not None and mallopt(_M_MMAP_THRESHOLD, threshold) == 1)


def release_free_memory() -> None:
    """Hand freed heap memory back to the operating system, where the C library can (glibc)."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


class AnalysisSlots:
    """``size`` concurrent analyses (0: one per core); a caller waits at most ``wait_seconds`` for one."""

    def __init__(self, size: int = 0, wait_seconds: float = 30.0) -> None:
        self.size = size or cores()
        self.wait_seconds = wait_seconds
        self._free = threading.BoundedSemaphore(self.size)
        self._lock = threading.Lock()
        self._busy = 0
        self._last_trim = 0.0

    @property
    def busy(self) -> int:
        return self._busy

    @contextmanager
    def hold(self) -> Iterator[None]:
        """One slot for the duration of the block, or :class:`ThrottledError` after waiting too long."""
        if not self._free.acquire(timeout=self.wait_seconds):
            raise ThrottledError(
                f"the server is already analysing {self.size} images and none finished within "
                f"{self.wait_seconds:g} s; try again shortly"
            )
        with self._lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._lock:
                self._busy -= 1
                idle = self._busy == 0
                now = time.monotonic()
                trim = idle and now - self._last_trim >= TRIM_INTERVAL_S
                if trim:
                    self._last_trim = now
            self._free.release()
            if trim:
                release_free_memory()
