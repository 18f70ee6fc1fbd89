"""Face analysis over image bytes: decode with the configured limits, then run the engine, inside one of the
server's analysis slots (:mod:`glasshouse.faces.slots`)."""

from __future__ import annotations

import hashlib
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

import numpy as np

from glasshouse.engine.compare import MAX_FACES_PER_IMAGE as MAX_FACES_PER_IMAGE  # re-exported
from glasshouse.engine.compare import match_cosines, source_face, target_faces
from glasshouse.engine.decode import decode_image
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.engine.quality import QualityFilter, quality_refusal
from glasshouse.engine.types import Face, RGBImage
from glasshouse.faces.slots import AnalysisSlots
from glasshouse.governance.gate import require_grant


@dataclass(frozen=True, slots=True)
class AnalysedImage:
    """A decoded image's size and digest, with its faces (largest first)."""

    width: int
    height: int
    sha256: str
    faces: list[Face]
    image: RGBImage = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class FaceMatch:
    face: Face
    similarity: float


@dataclass(frozen=True, slots=True)
class Comparison:
    source: Face
    matches: list[FaceMatch]
    unmatched: list[Face]
    source_size: tuple[int, int]
    target_size: tuple[int, int]


class FaceAnalyser:
    """Decodes untrusted bytes under the configured limits and runs the engine on them."""

    def __init__(
        self,
        engine: FaceEngine,
        *,
        max_image_bytes: int,
        max_image_pixels: int,
        max_side: int | None = None,
        slots: AnalysisSlots | None = None,
        enforce_gate: bool = True,
    ) -> None:
        self.engine = engine
        self.max_image_bytes = max_image_bytes
        self.max_image_pixels = max_image_pixels
        #: Larger images are reduced to this working size as they are decoded.
        self.max_side = max_side
        #: Bounds decodes and analyses in flight (None: unbounded, e.g. a bulk worker process of its own).
        self.slots = slots
        #: Off only in bulk-enrolment workers, whose parent process holds the grant for the whole run.
        self.enforce_gate = enforce_gate

    def with_engine(self, engine: FaceEngine) -> FaceAnalyser:
        """The same limits and analysis slots around another engine (another face model)."""
        return FaceAnalyser(
            engine,
            max_image_bytes=self.max_image_bytes,
            max_image_pixels=self.max_image_pixels,
            max_side=self.max_side,
            slots=self.slots,
            enforce_gate=self.enforce_gate,
        )

    def decode(self, data: bytes) -> RGBImage:
        """The image at working resolution, decoded in one of the server's slots."""
        with self._slot():
            return self._decode(data)

    def _decode(self, data: bytes) -> RGBImage:
        return decode_image(
            data, max_bytes=self.max_image_bytes, max_pixels=self.max_image_pixels, max_side=self.max_side
        )

    def _slot(self) -> AbstractContextManager[None]:
        return self.slots.hold() if self.slots is not None else nullcontext()

    def analyse(
        self, data: bytes, *, embed: bool = True, max_faces: int = MAX_FACES_PER_IMAGE
    ) -> AnalysedImage:
        """Decode and analyse; only inside a policy-gate grant (biometric processing)."""
        if self.enforce_gate:
            require_grant()
        with self._slot():
            image = self._decode(data)
            faces = self.engine.analyse(image, embed=embed, max_faces=max_faces)
        h, w = image.shape[:2]
        return AnalysedImage(w, h, hashlib.sha256(data).hexdigest(), faces, image)

    def compare(
        self,
        source: bytes,
        target: bytes,
        *,
        similarity_threshold: float = 80.0,
        quality_filter: QualityFilter = QualityFilter.NONE,
    ) -> Comparison | None:
        """The largest face in ``source`` against every face in ``target``; ``None`` if source has no face.
        The choice is :mod:`glasshouse.engine.compare`'s, which ``glasshouse evaluate`` measures."""
        src = self.analyse(source, embed=False)
        chosen = source_face([f.detection for f in src.faces])
        if chosen is None:
            return None
        picked = src.faces[chosen]
        embedding = self.engine.embed_faces(src.image, [picked.detection])[0]
        probe = Face(
            detection=picked.detection, pose=picked.pose, quality=picked.quality, embedding=embedding
        )
        tgt = self.analyse(target)
        scored = [tgt.faces[i] for i in target_faces([f.detection for f in tgt.faces])]
        candidates = [
            f for f in scored if quality_refusal(f.detection, f.quality, f.pose, quality_filter) is None
        ]
        matches: list[FaceMatch] = []
        unmatched: list[Face] = []
        if candidates:
            matrix = np.stack([f.embedding for f in candidates if f.embedding is not None])
            sims = self.engine.calibration.similarity(match_cosines(embedding, matrix))
            for face, sim in zip(candidates, sims, strict=True):
                if sim >= similarity_threshold:
                    matches.append(FaceMatch(face, float(sim)))
                else:
                    unmatched.append(face)
        matches.sort(key=lambda m: m.similarity, reverse=True)
        return Comparison(probe, matches, unmatched, (src.width, src.height), (tgt.width, tgt.height))
