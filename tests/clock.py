"""A clock the tests set and move, injected where services read the time (``Services(clock=...)``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Reads ``now`` (the real time at creation unless ``start`` is given), moved on by ``tick`` at every
    reading (zero by default: the time stands still until the test moves it)."""

    def __init__(self, start: datetime | None = None, tick: timedelta = timedelta(0)) -> None:
        self.now = start or datetime.now(UTC)
        self.tick = tick

    def __call__(self) -> datetime:
        self.now += self.tick
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
