"""Where the faces are between samples, and how they are covered (pure parts of the redaction engine)."""

from __future__ import annotations

import numpy as np
import pytest

from glasshouse.redaction.cover import Method, cover, padded, pixel_bounds
from glasshouse.redaction.timeline import Timeline
from glasshouse.video.pipeline import VideoTrack
from glasshouse.video.track import NormBox, Sighting

#: Media processing only: runs once, in the SQLite pass (no database involved).
pytestmark = pytest.mark.no_database


def track(index: int, *sightings: tuple[int, float]) -> VideoTrack:
    """A track whose 0.1 × 0.1 box sits at left = x at each (ms, x)."""
    return VideoTrack(
        index, [Sighting(ms, NormBox(x, 0.2, 0.1, 0.1), 0.9) for ms, x in sightings], None, [], 0.5
    )


def test_boxes_are_interpolated_between_sightings_and_held_around_them() -> None:
    timeline = Timeline([track(0, (1000, 0.1), (1200, 0.3))], hold_ms=500)
    [mid] = timeline.boxes_at(1100)
    assert mid.left == pytest.approx(0.2) and mid.width == pytest.approx(0.1)
    assert timeline.boxes_at(600)[0].left == pytest.approx(0.1)  # before the first sighting: held
    assert timeline.boxes_at(1650)[0].left == pytest.approx(0.3)  # after the last: held
    assert timeline.boxes_at(499) == [] and timeline.boxes_at(1701) == []


def test_a_long_gap_is_not_bridged_but_held_from_both_ends() -> None:
    timeline = Timeline([track(0, (0, 0.1), (5000, 0.7))], max_gap_ms=1000, hold_ms=500)
    assert timeline.boxes_at(400)[0].left == pytest.approx(0.1)
    assert timeline.boxes_at(2500) == []
    assert timeline.boxes_at(4600)[0].left == pytest.approx(0.7)


def test_kept_tracks_are_not_covered() -> None:
    timeline = Timeline([track(0, (0, 0.1)), track(1, (0, 0.5))], frozenset({1}))
    assert [b.left for b in timeline.boxes_at(0)] == [pytest.approx(0.1)]


def test_padding_grows_the_box_on_every_side_and_is_clipped_to_the_image() -> None:
    box = padded(NormBox(0.0, 0.5, 0.2, 0.2), 0.25)
    assert (box.left, box.top, box.width, box.height) == pytest.approx((-0.05, 0.45, 0.3, 0.3))
    bounds = pixel_bounds(box, 100, 100)
    assert bounds is not None
    # rounded outwards (never a pixel less than asked), clipped at the left edge
    assert np.allclose(bounds, (0, 45, 25, 75), atol=1) and bounds[2] >= 25 and bounds[3] >= 75
    assert pixel_bounds(NormBox(1.2, 0.2, 0.1, 0.1), 100, 100) is None


@pytest.mark.parametrize("method", list(Method))
def test_cover_changes_only_the_padded_box_and_leaves_no_detail(method: Method) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (100, 200, 3), dtype=np.uint8)
    before = image.copy()
    assert cover(image, [NormBox(0.25, 0.25, 0.25, 0.5)], method, padding=0.2) == 1
    bounds = pixel_bounds(padded(NormBox(0.25, 0.25, 0.25, 0.5), 0.2), 200, 100)
    assert bounds is not None and np.allclose(bounds, (40, 15, 110, 85), atol=1)  # padded 20% per side
    x0, y0, x1, y1 = bounds
    outside = np.ones(image.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(image[outside], before[outside])
    region = image[y0 + 5 : y1 - 5, x0 + 5 : x1 - 5].astype(float)
    # noise with a standard deviation near 74 is flattened: no pixel-level detail survives
    assert region.std(axis=(0, 1)).max() < (1 if method is Method.BOX else 12)


def test_boxes_are_neither_held_nor_interpolated_across_a_scene_cut() -> None:
    timeline = Timeline(
        [track(0, (1000, 0.1), (1400, 0.3)), track(1, (2000, 0.6))], hold_ms=500, cuts=[1200, 1700]
    )
    assert timeline.boxes_at(1100)[0].left == pytest.approx(0.1)  # held in its own shot, not interpolated
    assert timeline.boxes_at(1300)[0].left == pytest.approx(0.3)
    assert [b.left for b in timeline.boxes_at(1650)] == [
        pytest.approx(0.3)
    ]  # track 1 not held back past 1700
    assert [b.left for b in timeline.boxes_at(1700)] == [pytest.approx(0.6)]  # ...but to its shot's start


def test_a_growing_timeline_read_ahead_by_its_lead_gives_the_finished_timelines_boxes() -> None:
    """Pass 2 covers frames while pass 1 runs: at each frame, what the growing timeline answers once pass 1
    is ``lead_ms`` ahead must be what the finished timeline answers (gaps, holds, a cut, tracks starting)."""
    from glasshouse.redaction.timeline import GrowingTimeline
    from glasshouse.video.track import Track

    sampled = {0: [(0, 0.1)], 200: [(0, 0.12)], 1500: [(0, 0.4), (1, 0.6)], 1700: [(1, 0.62)]}
    sampled |= {2900: [(2, 0.3)], 4000: [(2, 0.35)], 4100: [(3, 0.8)]}
    cut_at = 2800
    frames = range(0, 4500, 33)
    live: dict[int, Track] = {}
    growing = GrowingTimeline(hold_ms=500)
    heard: list[tuple[int, bool, list[Track] | None]] = []
    for ms in sorted({*frames, *sampled, cut_at}):
        if ms in sampled:
            for tid, x in sampled[ms]:
                live.setdefault(tid, Track(id=tid)).sightings.append(
                    Sighting(ms, NormBox(x, 0.2, 0.1, 0.1), 0.9)
                )
        heard.append((ms, ms == cut_at, list(live.values()) if ms in sampled else None))
    finished = Timeline(
        [VideoTrack(t.id, t.sightings, None, [], 0.5) for t in live.values()], hold_ms=500, cuts=[cut_at]
    )
    fed = 0
    for ms in frames:
        while fed < len(heard) and growing.read_ms < ms + growing.lead_ms:
            growing.frame(*heard[fed])
            fed += 1
        key = lambda b: (b.left, b.top)  # noqa: E731
        assert sorted(growing.boxes_at(ms), key=key) == sorted(finished.boxes_at(ms), key=key), ms
    assert growing.cuts == [cut_at]
