"""The small protocols every model runtime implements. Tests inject fakes; production swaps runtimes."""

from __future__ import annotations

from typing import Protocol

from glasshouse.engine.types import Chips, Detection, Embeddings, RGBImage


class Detector(Protocol):
    """Finds faces. Returns an empty list (never raises) when there are none."""

    def detect(self, image: RGBImage) -> list[Detection]: ...


class Aligner(Protocol):
    """Cuts one aligned chip per detection (the model's size and template), in the same order."""

    def align(self, image: RGBImage, detections: list[Detection]) -> Chips: ...


class Embedder(Protocol):
    """Maps aligned chips to L2-normalised float32 embeddings (the model's dimension), one row per chip."""

    def embed(self, chips: Chips) -> Embeddings: ...
