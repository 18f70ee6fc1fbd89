"""The small protocols every model runtime implements. Tests inject fakes; production swaps runtimes."""

from __future__ import annotations

from typing import Protocol

from glasshouse.engine.types import Chips, Detection, Embeddings, RGBImage


class Detector(Protocol):
    """Finds faces. Returns an empty list (never raises) when there are none."""

    def detect(self, image: RGBImage) -> list[Detection]: ...


class Aligner(Protocol):
    """Cuts one aligned 150x150 chip per detection, in the same order."""

    def align(self, image: RGBImage, detections: list[Detection]) -> Chips: ...


class Embedder(Protocol):
    """Maps aligned chips to L2-normalised 128-d float32 embeddings, one row per chip."""

    def embed(self, chips: Chips) -> Embeddings: ...
