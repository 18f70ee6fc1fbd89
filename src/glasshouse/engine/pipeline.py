"""The face engine: detect → quality/pose → align → embed, over decoded images.

Pure computation: no database, no files except the model cache the runtimes own. Models load lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glasshouse.engine.protocols import Aligner, Detector, Embedder
from glasshouse.engine.quality import estimate_pose, estimate_quality
from glasshouse.engine.runtime import Lazy
from glasshouse.engine.types import Chips, Detection, Embeddings, Face, RGBImage, landmarks_usable

EMBEDDING_DIM = 128


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine knobs; built from :class:`glasshouse.config.Settings` by :meth:`FaceEngine.from_settings`."""

    model_cache_dir: Path
    threads: int = 0
    detection_max_side: int = 1280
    detection_threshold: float = 0.5
    detection_close_up_side: int = 192
    embed_flip: bool = True
    aligner: str = "landmarks"


class FaceEngine:
    """Composes a detector, an aligner and an embedder. Each part may be injected (tests, other runtimes)."""

    def __init__(
        self,
        options: EngineOptions,
        *,
        detector: Detector | None = None,
        aligner: Aligner | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.options = options
        self._detector: Lazy[Detector] = Lazy(lambda: detector or self._default_detector())
        self._aligner: Lazy[Aligner] = Lazy(lambda: aligner or self._default_aligner())
        self._embedder: Lazy[Embedder] = Lazy(lambda: embedder or self._default_embedder())

    @classmethod
    def from_settings(cls, settings: object) -> FaceEngine:
        from glasshouse.config import Settings

        assert isinstance(settings, Settings)
        return cls(
            EngineOptions(
                model_cache_dir=settings.models_path,
                threads=settings.onnx_threads,
                detection_max_side=settings.detection_max_side,
                detection_threshold=settings.detection_threshold,
                detection_close_up_side=settings.detection_close_up_side,
                embed_flip=settings.embed_flip,
                aligner=settings.aligner,
            )
        )

    # -- default runtimes (imported lazily: importing the engine must stay cheap) --------------------
    def _default_detector(self) -> Detector:
        from glasshouse.engine.centerface import CenterFaceDetector

        o = self.options
        return CenterFaceDetector(
            o.model_cache_dir,
            threads=o.threads,
            max_side=o.detection_max_side,
            threshold=o.detection_threshold,
            close_up_side=o.detection_close_up_side,
        )

    def _default_aligner(self) -> Aligner:
        from glasshouse.engine.align import DlibAligner, LandmarkAligner

        return LandmarkAligner() if self.options.aligner == "landmarks" else DlibAligner()

    def _default_embedder(self) -> Embedder:
        from glasshouse.engine.embed import OnnxResNetEmbedder

        o = self.options
        return OnnxResNetEmbedder(o.model_cache_dir, threads=o.threads, flip=o.embed_flip)

    # -- the stages ---------------------------------------------------------------------------------------
    def detect(self, image: RGBImage) -> list[Detection]:
        """Every face, largest first; detections without usable landmarks (any detector's degenerate
        output) are dropped, so one can never fail alignment or pose for the whole image."""
        found = [d for d in self._detector.get().detect(image) if landmarks_usable(d.landmarks)]
        return sorted(found, key=lambda d: d.box.area, reverse=True)

    def align(self, image: RGBImage, detections: Sequence[Detection]) -> Chips:
        if not detections:
            return np.zeros((0, 150, 150, 3), dtype=np.uint8)
        return self._aligner.get().align(image, list(detections))

    def embed_chips(self, chips: Chips) -> Embeddings:
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        return self._embedder.get().embed(chips)

    def describe(self, image: RGBImage, detections: Sequence[Detection]) -> list[Face]:
        """Quality and pose for given detections, without embeddings (cheap)."""
        return [
            Face(detection=d, pose=estimate_pose(d.landmarks), quality=estimate_quality(image, d.box))
            for d in detections
        ]

    def analyse(self, image: RGBImage, *, embed: bool = True, max_faces: int | None = None) -> list[Face]:
        """Detect every face (largest first, at most ``max_faces``) and, if asked, embed each."""
        detections = self.detect(image)
        if max_faces is not None:
            detections = detections[:max_faces]
        faces = self.describe(image, detections)
        if not embed or not faces:
            return faces
        embeddings = self.embed_chips(self.align(image, detections))
        return [
            Face(detection=f.detection, pose=f.pose, quality=f.quality, embedding=e)
            for f, e in zip(faces, embeddings, strict=True)
        ]

    def embed_faces(self, image: RGBImage, detections: Sequence[Detection]) -> Embeddings:
        return self.embed_chips(self.align(image, detections))
