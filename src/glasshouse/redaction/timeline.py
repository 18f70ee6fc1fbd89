"""Where each tracked face is in every frame, not only at the sampled frames the detector saw.

Between two sightings of a track at most ``max_gap_ms`` apart, the box is interpolated linearly. Before a
track's first sighting, after its last, and on each side of a longer gap (a merged track's two shots), the
nearest box is held for ``hold_ms``: the sampler looks at most every ``1000 / idle_fps`` ms, so a face can be
on screen that long before it is first seen. Neither holding nor interpolating crosses a scene cut (``cuts``:
the first frame of each new shot): a box says nothing about the next shot, where it could hide a kept face.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from glasshouse.video.pipeline import VideoTrack
from glasshouse.video.track import NormBox, Sighting, Track


@dataclass(frozen=True, slots=True)
class _Path:
    times: list[int]
    boxes: list[NormBox]


def _lerp(a: NormBox, b: NormBox, f: float) -> NormBox:
    return NormBox(
        a.left + (b.left - a.left) * f,
        a.top + (b.top - a.top) * f,
        a.width + (b.width - a.width) * f,
        a.height + (b.height - a.height) * f,
    )


class Timeline:
    """The boxes to cover at any timestamp, for every track but those kept."""

    def __init__(
        self,
        tracks: Iterable[VideoTrack],
        keep: frozenset[int] = frozenset(),
        *,
        max_gap_ms: int = 1000,
        hold_ms: int = 500,
        cuts: Sequence[float] = (),
    ) -> None:
        self.max_gap_ms = max_gap_ms
        self.hold_ms = hold_ms
        self._cuts = sorted(round(c) for c in cuts)
        self._paths = [self._path(t.sightings) for t in tracks if t.index not in keep and t.sightings]

    @staticmethod
    def _path(sightings: list[Sighting]) -> _Path:
        ordered = sorted(sightings, key=lambda s: s.timestamp_ms)
        return _Path([s.timestamp_ms for s in ordered], [s.box for s in ordered])

    def boxes_at(self, ms: float) -> list[NormBox]:
        out: list[NormBox] = []
        for path in self._paths:
            box = self._box(path, ms)
            if box is not None:
                out.append(box)
        return out

    def _shot(self, ms: float) -> int:
        return bisect.bisect_right(self._cuts, round(ms))

    def _box(self, path: _Path, ms: float) -> NormBox | None:
        times = path.times
        if ms < times[0] - self.hold_ms or ms > times[-1] + self.hold_ms:
            return None
        shot = self._shot(ms)
        i = bisect.bisect_right(times, ms)  # times[i - 1] <= ms < times[i]
        before = i > 0 and self._shot(times[i - 1]) == shot
        after = i < len(times) and self._shot(times[i]) == shot
        if before and after and times[i] - times[i - 1] <= self.max_gap_ms:
            t0, t1 = times[i - 1], times[i]
            return _lerp(path.boxes[i - 1], path.boxes[i], (ms - t0) / (t1 - t0) if t1 > t0 else 0.0)
        if before and ms - times[i - 1] <= self.hold_ms:
            return path.boxes[i - 1]
        if after and times[i] - ms <= self.hold_ms:
            return path.boxes[i]
        return None


class GrowingTimeline(Timeline):
    """A :class:`Timeline` filled while pass 1 runs (``frame`` is a
    :data:`~glasshouse.video.pipeline.FrameObserver`), for covering faces before the analysis has finished.

    Once pass 1 has read past ``ms + lead_ms``, :meth:`boxes_at` ``(ms)`` is what the finished timeline would
    give: a sighting not yet seen is later than that, too far away to be interpolated towards or held.
    Tracks are not merged across shots here (nobody kept, nothing to tell apart); merging changes indexes,
    never boxes. Not thread-safe by itself: the caller serialises :meth:`frame` and :meth:`boxes_at`.
    """

    def __init__(self, *, max_gap_ms: int = 1000, hold_ms: int = 500) -> None:
        super().__init__((), max_gap_ms=max_gap_ms, hold_ms=hold_ms)
        self._by_track: dict[int, _Path] = {}
        self.read_ms = -float("inf")  # the last frame pass 1 has heard of

    @property
    def lead_ms(self) -> int:
        return max(self.max_gap_ms, self.hold_ms) + 1

    @property
    def cuts(self) -> list[int]:
        return list(self._cuts)

    def frame(self, ms: float, cut: bool, live: Sequence[Track] | None) -> None:
        if cut:
            self._cuts.append(round(ms))
        for track in live or ():
            path = self._by_track.get(track.id)
            if path is None:
                path = self._by_track[track.id] = _Path([], [])
                self._paths.append(path)
            for s in track.sightings[len(path.times) :]:
                path.times.append(s.timestamp_ms)
                path.boxes.append(s.box)
        self.read_ms = ms
