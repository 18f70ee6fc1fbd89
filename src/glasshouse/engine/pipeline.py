"""The face engine: detect → quality/pose → align → embed, over decoded images.

Pure computation: no database, no files except the model cache the runtimes own. Models load lazily.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from glasshouse.engine.batching import EmbedBatcher
from glasshouse.engine.centerface import DEFAULT_MIN_FACE
from glasshouse.engine.hardware import usable_cores
from glasshouse.engine.models.builtin import DLIB
from glasshouse.engine.models.card import ARCFACE_112, DETECTOR_ID, ModelCard
from glasshouse.engine.protocols import Aligner, Detector, Embedder
from glasshouse.engine.quality import estimate_pose, estimate_quality
from glasshouse.engine.runtime import Lazy, ThreadPlan
from glasshouse.engine.similarity import Calibration
from glasshouse.engine.types import Chips, Detection, Embeddings, Face, RGBImage, landmarks_usable
from glasshouse.errors import ModelUnavailableError

#: The default (dlib) model's dimension; an engine's own is :attr:`FaceEngine.embedding_dim`.
EMBEDDING_DIM = DLIB.embedding_dim
#: Identifiers of the default runtimes, joined into :attr:`FaceEngine.model_version`. Bump one when its
#: model or preprocessing changes the embeddings, so collections can tell which engine indexed them.
#: A model's own part comes from its card (:meth:`ModelCard.model_version`).
ALIGNER_IDS = {"landmarks": "lm5", "dlib": "dlib5"}
EMBEDDER_ID = DLIB.model_id


#: The detector's score cut when recall matters more than precision (see :attr:`FaceEngine.exhaustive`).
EXHAUSTIVE_THRESHOLD = 0.4


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """Engine knobs; built from :class:`glasshouse.config.Settings` by :meth:`FaceEngine.from_settings`."""

    model_cache_dir: Path
    threads: int = 0
    detection_max_side: int = 1280
    detection_min_face: int = DEFAULT_MIN_FACE
    detection_threshold: float = 0.5
    detection_close_up_side: int = 192
    #: Run the close-up pass on every image, not only where it can matter (redaction: recall over speed).
    detection_close_up_always: bool = False
    embed_flip: bool = True
    aligner: str = "landmarks"
    detector_precision: str = "float"
    embedder_precision: str = "float"
    batch_wait_ms: float = 2.0
    batch_max: int = 32
    #: The face model (its card: chip size, template, dimension, calibration) and, for a pack, its network.
    model: ModelCard = DLIB
    model_file: Path | None = None


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
        self._injected = (detector, aligner, embedder)
        self._detector: Lazy[Detector] = Lazy(lambda: detector or self._default_detector())
        self._aligner: Lazy[Aligner] = Lazy(lambda: aligner or self._default_aligner())
        self._embedder: Lazy[Embedder] = Lazy(lambda: embedder or self._default_embedder())
        self._batcher: Lazy[EmbedBatcher] = Lazy(self._make_batcher)

    @property
    def model(self) -> ModelCard:
        return self.options.model

    @property
    def embedding_dim(self) -> int:
        return self.options.model.embedding_dim

    @property
    def chip_size(self) -> int:
        return self.options.model.input.size

    @property
    def calibration(self) -> Calibration:
        """This model's similarity scale (cosine ↔ 0–100 similarity)."""
        return self.options.model.calibration

    def with_model(self, model: ModelCard, model_file: Path | None) -> FaceEngine:
        """An engine for another face model sharing this one's detector (loaded once for all models)."""
        if model == self.options.model and model_file == self.options.model_file:
            return self
        other = FaceEngine(
            replace(self.options, model=model, model_file=model_file), detector=self._injected[0]
        )
        other._detector = self._detector
        return other

    @classmethod
    def from_settings(cls, settings: object) -> FaceEngine:
        from glasshouse.config import Settings

        assert isinstance(settings, Settings)
        return cls(
            EngineOptions(
                model_cache_dir=settings.models_path,
                threads=settings.onnx_threads,
                detection_max_side=settings.detection_max_side,
                detection_min_face=settings.detection_min_face,
                detection_threshold=settings.detection_threshold,
                detection_close_up_side=settings.detection_close_up_side,
                embed_flip=settings.embed_flip,
                aligner=settings.aligner,
                detector_precision=settings.detector_precision,
                embedder_precision=settings.embedder_precision,
                batch_wait_ms=settings.embed_batch_wait_ms,
                batch_max=settings.embed_batch_max,
            )
        )

    @property
    def model_version(self) -> str:
        """Glasshouse's model identifier, detector + aligner + embedder
        (``glasshouse-centerface1-lm5-dlibresnet1`` by default). Embeddings of engines with different
        identifiers are not comparable: each collection stores the identifier it was created with.
        An injected part names itself by a ``model_id`` attribute (else its class name)."""
        model = self.options.model
        defaults = (DETECTOR_ID, model.aligner_id(self.options.aligner), model.model_id)
        parts = (
            default if part is None else str(getattr(part, "model_id", type(part).__name__.lower()))
            for part, default in zip(self._injected, defaults, strict=True)
        )
        return "-".join(("glasshouse", *parts))

    @cached_property
    def exhaustive(self) -> FaceEngine:
        """This engine tuned for recall: its detector always runs the close-up pass as well, looks for faces of
        any size (full working resolution) and accepts faces from :data:`EXHAUSTIVE_THRESHOLD` up. For redaction, where a face the default settings would miss
        in one frame (a deep profile, a dark face at the threshold) must be covered all the same. Loads its
        own models on first use; an injected detector is kept as it is."""
        if self._injected[0] is not None or self.options.detection_close_up_always:
            return self
        threshold = min(self.options.detection_threshold, EXHAUSTIVE_THRESHOLD)
        return FaceEngine(
            replace(
                self.options,
                detection_close_up_always=True,
                detection_threshold=threshold,
                detection_min_face=0,
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
            precision=o.detector_precision,
            close_up_side=o.detection_close_up_side,
            close_up_always=o.detection_close_up_always,
            min_face=o.detection_min_face,
        )

    def _default_aligner(self) -> Aligner:
        from glasshouse.engine.align import ARCFACE_112_TEMPLATE, DlibAligner, LandmarkAligner

        model = self.options.model
        if model.alignment == ARCFACE_112:
            return LandmarkAligner(ARCFACE_112_TEMPLATE, model.input.size)
        return LandmarkAligner() if self.options.aligner == "landmarks" else DlibAligner()

    def _default_embedder(self) -> Embedder:
        from glasshouse.engine.embed import FivePointOnnxEmbedder, OnnxResNetEmbedder

        o = self.options
        if o.model.kind == "five-point-onnx":
            if o.model_file is None:
                raise ModelUnavailableError(f"model pack {o.model.name!r} has no network file")
            return FivePointOnnxEmbedder(
                o.model_file, o.model, o.model_cache_dir, threads=o.threads, flip=o.embed_flip
            )
        return OnnxResNetEmbedder(
            o.model_cache_dir, threads=o.threads, flip=o.embed_flip, precision=o.embedder_precision
        )

    def _make_batcher(self) -> EmbedBatcher:
        """Batches of concurrent requests' chips; as many batches at once as the embedder's threads leave
        cores free when runs overlap (one-thread sessions, and measured multi-thread plans, whose overlapping
        runs take a one-thread twin, run side by side; a thread count set by hand one batch per that many
        cores)."""
        embedder = self._embedder.get()
        plan = getattr(embedder, "plan", None)
        threads = plan.threads_when_overlapping if isinstance(plan, ThreadPlan) else 1
        return EmbedBatcher(
            embedder.embed,
            wait_s=self.options.batch_wait_ms / 1000,
            max_chips=self.options.batch_max,
            max_concurrent=max(1, usable_cores() // threads),
        )

    @property
    def batcher(self) -> EmbedBatcher:
        return self._batcher.get()

    def warm_up(self) -> None:
        """Load every model now (and measure thread settings if this machine has not been measured)."""
        self._detector.get()
        self._aligner.get()
        if self.options.batch_max > 1:
            self._batcher.get()
        self.runtime_summary()

    def runtime_summary(self) -> dict[str, object]:
        """How the loaded models run here (precision, threads and how they were chosen, batching)."""
        summary: dict[str, object] = {}
        for part, lazy in (("detector", self._detector), ("embedder", self._embedder)):
            model = lazy.get()
            plan = getattr(model, "plan", None)
            summary[part] = {
                "runtime": type(model).__name__,
                "precision": getattr(model, "precision", None),
                "threads": plan.describe() if isinstance(plan, ThreadPlan) else None,
            }
        summary["batching"] = (
            {
                "wait_ms": self.options.batch_wait_ms,
                "max_chips": self.options.batch_max,
                "concurrent_batches": self.batcher.max_concurrent,
            }
            if self.options.batch_max > 1
            else "off"
        )
        return summary

    # -- the stages ---------------------------------------------------------------------------------------
    def detect(self, image: RGBImage) -> list[Detection]:
        """Every face, largest first; detections without usable landmarks (any detector's degenerate
        output) are dropped, so one can never fail alignment or pose for the whole image."""
        found = [d for d in self._detector.get().detect(image) if landmarks_usable(d.landmarks)]
        return sorted(found, key=lambda d: d.box.area, reverse=True)

    def align(self, image: RGBImage, detections: Sequence[Detection]) -> Chips:
        if not detections:
            return np.zeros((0, self.chip_size, self.chip_size, 3), dtype=np.uint8)
        return self._aligner.get().align(image, list(detections))

    def embed_chips(self, chips: Chips) -> Embeddings:
        """Embeddings of aligned chips; batched with concurrent callers' chips (see :mod:`.batching`)."""
        if len(chips) == 0:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        if self.options.batch_max <= 1:
            return self._embedder.get().embed(chips)
        return self._batcher.get().embed(chips)

    def describe(self, image: RGBImage, detections: Sequence[Detection]) -> list[Face]:
        """Quality and pose for given detections, without embeddings (cheap)."""
        return [
            Face(detection=d, pose=estimate_pose(d.landmarks), quality=estimate_quality(image, d.box))
            for d in detections
        ]

    def analyse(self, image: RGBImage, *, embed: bool = True, max_faces: int | None = None) -> list[Face]:
        """Detect every face (largest first, at most ``max_faces``) and, if asked, embed each.

        While detecting, the call counts as a request in flight, so concurrent requests' faces are embedded
        in one batch (waiting at most ``batch_wait_ms`` for each other)."""
        if not embed or self.options.batch_max <= 1:
            return self._analyse(image, embed, max_faces)
        with self._batcher.get().participant():
            return self._analyse(image, embed, max_faces)

    def _analyse(self, image: RGBImage, embed: bool, max_faces: int | None) -> list[Face]:
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
