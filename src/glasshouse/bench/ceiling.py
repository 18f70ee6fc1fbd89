"""How close the engine's networks run to what this machine can do: each network's arithmetic (multiply-adds
counted from its ONNX graph) per second on one core, beside the rate onnxruntime reaches on a large dense
3x3 convolution on the same core in the same run (the practical ceiling for convolutional networks here).

A network near the ceiling can only get faster by doing less work (a smaller input, fewer passes, int8);
one far below it loses time to memory traffic, small layers or layout changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: The reference convolution: 128 → 128 channels, 3x3, on 56x56 (a ResNet stage's shape).
_REF_CHANNELS, _REF_SIDE = 128, 56


def conv_macs(model: bytes, input_shape: tuple[int, ...]) -> int:
    """Multiply-adds of every Conv/ConvTranspose of ``model`` with its (single) input of ``input_shape``."""
    import onnx
    from onnx import shape_inference

    graph_model = onnx.load_from_string(model)
    dims = graph_model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, input_shape, strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    inferred = shape_inference.infer_shapes(graph_model).graph
    shapes = {
        info.name: [d.dim_value for d in info.type.tensor_type.shape.dim]
        for info in (*inferred.input, *inferred.value_info, *inferred.output)
    }
    weights = {w.name: list(w.dims) for w in inferred.initializer}
    total = 0
    for node in inferred.node:
        if node.op_type not in ("Conv", "ConvTranspose") or node.input[1] not in weights:
            continue
        # Conv: every output element sums over (in channels / groups) x kernel; ConvTranspose: every input.
        counted = shapes.get(node.output[0] if node.op_type == "Conv" else node.input[0])
        if not counted or not all(counted):
            raise ValueError(f"no static shape for {node.name or node.op_type}")
        total += int(np.prod(counted)) * int(np.prod(weights[node.input[1]][1:]))
    return total


def _reference_model() -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    c, side = _REF_CHANNELS, _REF_SIDE
    weight = np.random.default_rng(0).standard_normal((c, c, 3, 3)).astype(np.float32) * 0.05
    node = helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node],
        "reference_conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, side, side])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c, side, side])],
        [numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


@dataclass(frozen=True, slots=True)
class NetworkRate:
    """One network's best run on one core: milliseconds and multiply-adds per run, and the rate."""

    name: str
    input_shape: tuple[int, ...]
    gmacs: float
    ms: float

    @property
    def gflops(self) -> float:  # two floating-point operations per multiply-add
        return 2 * self.gmacs / (self.ms / 1000) if self.ms else 0.0

    def to_json(self, ceiling: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "input_shape": list(self.input_shape),
            "gmacs_per_run": round(self.gmacs, 4),
            "ms_per_run": round(self.ms, 3),
            "gflops": round(self.gflops, 1),
        }
        if ceiling:
            out["share_of_ceiling"] = round(self.gflops / ceiling, 3)
        return out


def network_rate(
    name: str, model: bytes, feed: npt.NDArray[Any], *, repeats: int = 20, macs: int | None = None
) -> NetworkRate:
    """``model`` run on ``feed`` in one-thread onnxruntime (the engine's settings otherwise); the fastest of
    ``repeats`` runs counts, since neighbours' work only ever adds time."""
    from glasshouse.engine.runtime import onnx_session

    session = onnx_session(model, threads=1, spin=False)
    inputs = {session.get_inputs()[0].name: feed}
    session.run(None, inputs)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, inputs)
        best = min(best, time.perf_counter() - start)
    counted = conv_macs(model, feed.shape) if macs is None else macs
    return NetworkRate(name, tuple(feed.shape), counted / 1e9, best * 1000)


def dense_conv_ceiling(repeats: int = 20) -> NetworkRate:
    """The reference 3x3 convolution's rate on one core (GFLOP/s in ``.gflops``)."""
    c, side = _REF_CHANNELS, _REF_SIDE
    feed = np.random.default_rng(1).standard_normal((1, c, side, side)).astype(np.float32)
    return network_rate("dense 3x3 conv 128→128 @ 56x56", _reference_model(), feed, repeats=repeats)


def default_networks(model_cache_dir: Path, detector_side: int) -> list[NetworkRate]:
    """The default engine's float networks on one core: dlib's ResNet on one face with its flip (two
    150x150 chips, as the engine embeds a face) and CenterFace on a ``detector_side`` square input."""
    from glasshouse.engine import model_files
    from glasshouse.engine.centerface import load_cached_model
    from glasshouse.engine.dlib_resnet import CHIP_SIZE, ensure_onnx

    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, (2, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
    image = (rng.random((1, 3, detector_side, detector_side), dtype=np.float32) * 255).astype(np.float32)
    return [
        network_rate(
            "embedder: dlib ResNet, 1 face + flip", ensure_onnx(model_cache_dir).read_bytes(), chips
        ),
        network_rate(
            f"detector: CenterFace at {detector_side}x{detector_side}",
            load_cached_model(model_cache_dir, model_files.centerface_onnx()),
            image,
        ),
    ]
