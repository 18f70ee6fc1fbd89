"""Face embedders: dlib's ResNet run by onnxruntime (production) and by dlib itself (reference), and any
installed five-point ONNX pack (:class:`FivePointOnnxEmbedder`)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.engine import model_files
from glasshouse.engine.dlib_resnet import CACHE_STEM, CHIP_SIZE, DESCRIPTOR_DIM, ensure_onnx
from glasshouse.engine.models.card import ModelCard
from glasshouse.engine.quantize import ensure_int8, resolve
from glasshouse.engine.runtime import Lazy, ThreadPlan, tuned_session
from glasshouse.engine.types import Chips, Embeddings
from glasshouse.errors import InvalidParameterError, ModelUnavailableError

F32 = npt.NDArray[np.float32]


def _check_chips(chips: Chips, size: int = CHIP_SIZE) -> Chips:
    arr = np.asarray(chips)
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3) or arr.dtype != np.uint8:
        raise InvalidParameterError(
            f"chips must be uint8 (n, {size}, {size}, 3); got {arr.dtype} {arr.shape}"
        )
    return np.ascontiguousarray(arr)


def l2_normalise(vectors: F32) -> Embeddings:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    out: Embeddings = (vectors / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def _embed(
    raw: Callable[[Chips], F32], chips: Chips, flip: bool, size: int = CHIP_SIZE, dim: int = DESCRIPTOR_DIM
) -> Embeddings:
    """L2-normalised rows; with ``flip`` the raw descriptors of a chip and its mirror are averaged first."""
    chips = _check_chips(chips, size)
    n = len(chips)
    if n == 0:
        return np.zeros((0, dim), dtype=np.float32)
    if not flip:
        return l2_normalise(raw(chips))
    both = raw(np.concatenate([chips, chips[:, :, ::-1]]))
    return l2_normalise(0.5 * (both[:n] + both[n:]))


class OnnxResNetEmbedder:
    """dlib's face descriptor ResNet converted to ONNX (see :mod:`glasshouse.engine.dlib_resnet`).

    ``embed`` returns L2-normalised float32 ``(n, 128)`` rows. With ``flip=True`` (default) each chip is also
    run mirrored left-right; the two *raw* descriptors are averaged and the mean is L2-normalised.
    ``embed_raw`` returns dlib's exact raw descriptors (no flip, no normalisation). The model is converted
    (once, cached under ``model_cache_dir``) and loaded on first use; chips run in batches of ``batch_size``.
    ``precision`` ``int8`` runs the statically quantised model (:mod:`glasshouse.engine.quantize`);
    ``threads=0`` chooses the thread settings by measuring this machine (:func:`tuned_session`).
    """

    def __init__(
        self,
        model_cache_dir: Path,
        threads: int = 0,
        flip: bool = True,
        batch_size: int = 16,
        precision: str = "float",
    ) -> None:
        self.flip = flip
        self.batch_size = max(1, batch_size)
        self.model_cache_dir = model_cache_dir
        self.threads = threads
        self.precision = resolve(precision)
        self._loaded: Lazy[tuple[Any, ThreadPlan]] = Lazy(self._load)

    def _load(self) -> tuple[Any, ThreadPlan]:
        model = ensure_onnx(self.model_cache_dir).read_bytes()
        if self.precision == "int8":
            model = ensure_int8(model, CACHE_STEM, self.model_cache_dir)
        probe = np.random.default_rng(0).integers(0, 256, (2, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        return tuned_session(
            model, f"{CACHE_STEM}-{self.precision}", self.model_cache_dir, [probe], self.threads
        )

    @property
    def plan(self) -> ThreadPlan:
        """The thread settings in use (loads the model)."""
        return self._loaded.get()[1]

    def embed_raw(self, chips: Chips) -> F32:
        chips = _check_chips(chips)
        out = np.zeros((len(chips), DESCRIPTOR_DIM), dtype=np.float32)
        if len(chips) == 0:
            return out
        session = self._loaded.get()[0]
        for start in range(0, len(chips), self.batch_size):
            batch = chips[start : start + self.batch_size]
            out[start : start + len(batch)] = session.run(["descriptor"], {"chips": batch})[0]
        return out

    def embed(self, chips: Chips) -> Embeddings:
        return _embed(self.embed_raw, chips, self.flip)


class DlibResNetEmbedder:
    """Reference: dlib's own ``face_recognition_model_v1.compute_face_descriptor`` on each 150x150 chip.

    Same API and combination rule as :class:`OnnxResNetEmbedder`; ``flip`` is off by default (dlib's
    pipeline does not flip). dlib is single-threaded here (~130 ms per chip), so calls are serialised.
    """

    def __init__(self, flip: bool = False) -> None:
        self.flip = flip
        self._model: Lazy[Any] = Lazy(self._load)
        self._lock = threading.Lock()

    @staticmethod
    def _load() -> Any:
        import dlib

        return dlib.face_recognition_model_v1(str(model_files.dlib_resnet_dat()))

    def embed_raw(self, chips: Chips) -> F32:
        chips = _check_chips(chips)
        out = np.zeros((len(chips), DESCRIPTOR_DIM), dtype=np.float32)
        if len(chips) == 0:
            return out
        model = self._model.get()
        with self._lock:
            for i, chip in enumerate(chips):
                out[i] = np.asarray(
                    model.compute_face_descriptor(np.ascontiguousarray(chip)), dtype=np.float32
                )
        return out

    def embed(self, chips: Chips) -> Embeddings:
        return _embed(self.embed_raw, chips, self.flip)


class FivePointOnnxEmbedder:
    """An installed five-point pack's ONNX network (e.g. MobileFaceNet), fed as its card says: chips of the
    card's size, channel order and ``(x - mean) / scale`` normalisation, NCHW or NHWC. Same combination rule
    as :class:`OnnxResNetEmbedder` (``flip`` averages the raw outputs of a chip and its mirror)."""

    def __init__(
        self,
        model_file: Path,
        card: ModelCard,
        cache_dir: Path,
        threads: int = 0,
        flip: bool = True,
        batch_size: int = 16,
    ) -> None:
        self.model_file = model_file
        self.card = card
        self.cache_dir = cache_dir
        self.threads = threads
        self.flip = flip
        self.batch_size = max(1, batch_size)
        self.precision = "float"
        self._loaded: Lazy[tuple[Any, ThreadPlan]] = Lazy(self._load)

    def _load(self) -> tuple[Any, ThreadPlan]:
        try:
            model = self.model_file.read_bytes()
        except OSError as exc:
            raise ModelUnavailableError(
                f"model pack {self.card.name!r} is missing its network: {exc}"
            ) from exc
        size = self.card.input.size
        probe = self._feed(np.zeros((2, size, size, 3), dtype=np.uint8))
        return tuned_session(
            model, f"{self.card.name}-{self.card.version}", self.cache_dir, [probe], self.threads
        )

    @property
    def plan(self) -> ThreadPlan:
        return self._loaded.get()[1]

    def _feed(self, chips: Chips) -> npt.NDArray[Any]:
        spec = self.card.input
        x: npt.NDArray[Any] = chips[..., ::-1] if spec.channels == "BGR" else chips
        if spec.layout == "uint8-nhwc":
            return np.ascontiguousarray(x)
        x = (x.astype(np.float32) - np.float32(spec.mean)) / np.float32(spec.scale)
        if spec.layout == "float-nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, dtype=np.float32)

    def embed_raw(self, chips: Chips) -> F32:
        size, dim = self.card.input.size, self.card.embedding_dim
        chips = _check_chips(chips, size)
        out = np.zeros((len(chips), dim), dtype=np.float32)
        if len(chips) == 0:
            return out
        session = self._loaded.get()[0]
        name = session.get_inputs()[0].name
        for start in range(0, len(chips), self.batch_size):
            batch = chips[start : start + self.batch_size]
            out[start : start + len(batch)] = session.run(None, {name: self._feed(batch)})[0]
        return out

    def embed(self, chips: Chips) -> Embeddings:
        return _embed(self.embed_raw, chips, self.flip, self.card.input.size, self.card.embedding_dim)
