"""Small-jitter test-time augmentation: embed each chip plus a few shifted / rescaled copies and average."""

from __future__ import annotations

import cv2
import numpy as np

from glasshouse.engine.protocols import Embedder
from glasshouse.engine.types import Chips, Embeddings

#: (dx, dy, scale) about the chip centre, in chip pixels; ``JitterEmbedder(n)`` uses the first ``n``.
JITTERS: tuple[tuple[float, float, float], ...] = (
    (2.0, 0.0, 1.0),
    (-2.0, 0.0, 1.0),
    (0.0, 2.0, 1.0),
    (0.0, -2.0, 1.0),
    (0.0, 0.0, 1.04),
    (0.0, 0.0, 0.96),
)


def jitter_chip(chip: Chips, dx: float, dy: float, scale: float) -> Chips:
    h, w = chip.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), 0.0, scale)
    m[0, 2] += dx
    m[1, 2] += dy
    out = cv2.warpAffine(chip, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, dtype=np.uint8)


class JitterEmbedder:
    """Wraps an embedder: the mean of the chip's and ``n`` jittered copies' embeddings, re-normalised."""

    def __init__(self, inner: Embedder, n: int) -> None:
        if not 0 <= n <= len(JITTERS):
            raise ValueError(f"jitter must be 0..{len(JITTERS)}")
        self.inner = inner
        self.jitters = JITTERS[:n]

    def embed(self, chips: Chips) -> Embeddings:
        if not self.jitters or len(chips) == 0:
            return self.inner.embed(chips)
        copies = [chips] + [np.stack([jitter_chip(c, *j) for c in chips]) for j in self.jitters]
        emb = self.inner.embed(np.concatenate(copies)).reshape(len(copies), len(chips), -1).mean(axis=0)
        emb /= np.linalg.norm(emb, axis=1, keepdims=True) + 1e-12
        return np.asarray(emb, dtype=np.float32)
