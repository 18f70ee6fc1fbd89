"""A live server process's resident memory, sampled in a thread while a test drives it."""

from __future__ import annotations

import threading
import time

import psutil


class PeakRss:
    """Samples a process's resident memory every 10 ms while in the ``with`` block; ``peak`` is the highest
    seen, ``baseline`` the value on entry."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    @property
    def growth(self) -> int:
        return self.peak - self.baseline

    def now(self) -> int:
        return int(self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self.baseline = self.peak = self.now()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
