"""dlib's face descriptor ResNet (``dlib_face_recognition_resnet_model_v1.dat``) rebuilt as an ONNX graph.

The ``.dat`` file is read in pure Python following dlib's own serialisation (``dlib/serialize.h``,
``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``tensor.h``); the graph wiring follows ``anet_type`` in
dlib's ``examples/dnn_face_recognition_ex.cpp``. Facts the conversion relies on:

* integers are a length byte (low nibble = byte count, bit 7 = sign) then little-endian bytes; ``double``s
  are an integer mantissa and an integer exponent (value = mantissa * 2**exponent); strings are a length
  then bytes; ``bool``s are the characters ``'0'``/``'1'``; tensor data are raw little-endian float32.
* a network serialises outside-in (versions first) and its layer details inside-out, so computational layers
  appear in the file from the input upwards; tag/skip layers write only a version number, no data.
* ``con_`` filters are (out, in, rows, cols) followed by the biases; stride-2 convolutions and the pools have
  padding 0, so sizes are ``1 + (in + 2*pad - window) // stride``: 150 → 72 → 35 → 17 → 8 → 3/4 → 1/2.
* ``add_prev`` adds tensors of different shapes into the larger shape, aligned at index 0, zero-filling the
  gap: channels in every down-sampling block, and rows/columns in the last two (3 vs 4, 1 vs 2).
* ``affine_`` is ``gamma * x + beta`` per channel; it is folded into the preceding convolution here.
* the input layer maps a pixel to ``(value - mean) / 256`` with the stored per-channel RGB means.

Graph: input ``"chips"`` uint8 ``(N, 150, 150, 3)`` RGB (dynamic N); output ``"descriptor"`` float32
``(N, 128)``, dlib's raw (un-normalised) descriptor.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from glasshouse.engine import model_files
from glasshouse.engine.runtime import atomic_write_bytes
from glasshouse.errors import ModelUnavailableError

F32 = npt.NDArray[np.float32]

CHIP_SIZE = 150
DESCRIPTOR_DIM = 128
ONNX_OPSET = 17
CACHE_STEM = "dlib_resnet_v1"

# ---------------------------------------------------------------------------------------------------------
# Parsed layers (only what inference needs)


@dataclass(frozen=True, slots=True)
class Conv:
    weight: F32  # (out, in, rows, cols)
    bias: F32  # (out,)
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Affine:
    gamma: F32
    beta: F32


@dataclass(frozen=True, slots=True)
class Relu:
    pass


@dataclass(frozen=True, slots=True)
class Pool:
    kind: str  # "max" or "avg"
    window: tuple[int, int]  # (0, 0) means the whole input ("_everything")
    stride: tuple[int, int]
    pad: tuple[int, int]


@dataclass(frozen=True, slots=True)
class AddPrev:
    pass


@dataclass(frozen=True, slots=True)
class Fc:
    weight: F32  # (inputs, outputs): output = x @ weight


Layer = Conv | Affine | Relu | Pool | AddPrev | Fc


@dataclass(frozen=True, slots=True)
class DlibNet:
    mean_rgb: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[Layer]  # computational layers, input side first


# ---------------------------------------------------------------------------------------------------------
# dlib serialisation reader


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelUnavailableError("dlib model file is truncated")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int_(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if size > 8:
            raise ModelUnavailableError(f"bad dlib integer header {head:#x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if head & 0x80 else value

    def float_(self) -> float:
        mantissa, exponent = self.int_(), self.int_()
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        if exponent in special:
            return special[exponent]
        return math.ldexp(float(mantissa), exponent)

    def str_(self) -> str:
        return self._take(self.int_()).decode("latin-1")

    def bool_(self) -> bool:
        c = self._take(1)
        if c not in (b"0", b"1"):
            raise ModelUnavailableError(f"bad dlib bool {c!r} at byte {self.pos - 1}")
        return c == b"1"

    def tensor(self) -> F32:
        version = self.int_()
        if version != 2:
            raise ModelUnavailableError(f"unsupported dlib tensor version {version}")
        shape = tuple(self.int_() for _ in range(4))
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        if self.int_() != 1:
            raise ModelUnavailableError("unsupported dlib alias_tensor version")
        n, k, nr, nc = (self.int_() for _ in range(4))
        return n, k, nr, nc

    def expect(self, *names: str) -> str:
        name = self.str_()
        if name not in names:
            raise ModelUnavailableError(f"expected dlib layer {names}, found {name!r} at byte {self.pos}")
        return name


def _read_details(r: _Reader) -> Layer:
    name = r.str_()
    if name == "con_4":
        params = r.tensor().ravel()
        num_filters, nr, nc, sy, sx, py, px = (r.int_() for _ in range(7))
        fshape = r.alias()
        r.alias()  # biases (1, num_filters, 1, 1)
        for _ in range(4):  # learning-rate / weight-decay multipliers
            r.float_()
        count = int(np.prod(fshape))
        if fshape[0] != num_filters or fshape[2:] != (nr, nc) or params.size != count + num_filters:
            raise ModelUnavailableError("inconsistent dlib con_ layer")
        weight = params[:count].reshape(fshape)
        return Conv(weight, params[count:].copy(), (sy, sx), (py, px))
    if name == "affine_":
        params = r.tensor().ravel()
        r.alias()
        r.alias()
        r.int_()  # mode (CONV_MODE: one gamma/beta per channel)
        half = params.size // 2
        return Affine(params[:half].copy(), params[half:].copy())
    if name == "relu_":
        return Relu()
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.int_() for _ in range(6))
        return Pool(name[:3], (nr, nc), (sy, sx), (py, px))
    if name == "add_prev_":
        return AddPrev()
    if name == "fc_2":
        num_outputs, num_inputs = r.int_(), r.int_()
        params = r.tensor().ravel()
        r.alias()
        r.alias()
        bias_mode = r.int_()
        for _ in range(4):
            r.float_()
        if bias_mode != 1 or params.size != num_inputs * num_outputs:  # 1 == FC_NO_BIAS
            raise ModelUnavailableError("expected dlib fc_ layer without bias")
        return Fc(params.reshape(num_inputs, num_outputs).copy())
    raise ModelUnavailableError(f"unsupported dlib layer {name!r}")


def parse_dat(dat_path: Path) -> DlibNet:
    """Read the weights of dlib's face descriptor network (``loss_metric`` over ``anet_type``)."""
    r = _Reader(dat_path.read_bytes())
    if r.int_() != 1:
        raise ModelUnavailableError("unexpected dlib add_loss_layer version")
    r.expect("loss_metric_2")
    r.float_()  # margin
    r.float_()  # distance threshold
    # add_layer (2) / tag / skip (1) versions, outermost first; the input-level add_layer has version 3.
    n_layers = 0
    while True:
        version = r.int_()
        if version == 3:
            break
        if version not in (1, 2):
            raise ModelUnavailableError(f"unexpected dlib layer version {version}")
        n_layers += version == 2
    r.expect("input_rgb_image_sized")
    mean = (r.float_(), r.float_(), r.float_())
    size = (r.int_(), r.int_())
    layers: list[Layer] = [_read_details(r)]
    for _ in range(3):
        r.bool_()
    for _ in range(3):  # x_grad, cached_output, grad_final
        r.tensor()
    r.int_()  # sample expansion factor
    for _ in range(n_layers):
        layers.append(_read_details(r))
        for _ in range(3):
            r.bool_()
        for _ in range(3):  # x_grad, cached_output, params_grad
            r.tensor()
    if r.pos != len(r.data):
        raise ModelUnavailableError(f"{len(r.data) - r.pos} unexpected trailing bytes in dlib model")
    return DlibNet(mean, size, layers)


# ---------------------------------------------------------------------------------------------------------
# ONNX graph


# Residual stages of anet_type, input side first: (filters, down-sampling first block?) per ``ares``.
_STAGES: list[tuple[int, bool]] = (
    [(32, False)] * 3  # alevel4
    + [(64, True)]
    + [(64, False)] * 3  # alevel3
    + [(128, True)]
    + [(128, False)] * 2  # alevel2
    + [(256, True)]
    + [(256, False)] * 2  # alevel1
    + [(256, True)]  # alevel0
)


def _pool_out(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


class _GraphBuilder:
    def __init__(self, net: DlibNet) -> None:
        self.layers = list(net.layers)
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self.count = 0

    def _name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, array: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self._name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def take(self, kind: type) -> Any:
        if not self.layers or not isinstance(self.layers[0], kind):
            found = type(self.layers[0]).__name__ if self.layers else "end of network"
            raise ModelUnavailableError(f"dlib network layout: expected {kind.__name__}, found {found}")
        return self.layers.pop(0)

    def conv_affine(self, x: str, shape: tuple[int, int, int]) -> tuple[str, tuple[int, int, int]]:
        """con followed by affine, folded into one Conv; returns the output and its (C, H, W)."""
        conv: Conv = self.take(Conv)
        aff: Affine = self.take(Affine)
        w = conv.weight * aff.gamma[:, None, None, None]
        b = conv.bias * aff.gamma + aff.beta
        (kh, kw), (sy, sx), (py, px) = conv.weight.shape[2:], conv.stride, conv.pad
        y = self.node(
            "Conv",
            [x, self.const("w", w.astype(np.float32)), self.const("b", b.astype(np.float32))],
            kernel_shape=[kh, kw],
            strides=[sy, sx],
            pads=[py, px, py, px],
        )
        out = (conv.weight.shape[0], _pool_out(shape[1], kh, sy, py), _pool_out(shape[2], kw, sx, px))
        return y, out

    def pool(self, x: str, shape: tuple[int, int, int], kind: str) -> tuple[str, tuple[int, int, int]]:
        p: Pool = self.take(Pool)
        if p.kind != kind:
            raise ModelUnavailableError(f"dlib network layout: expected {kind} pool, found {p.kind}")
        if p.window == (0, 0):
            return self.node("GlobalAveragePool" if kind == "avg" else "GlobalMaxPool", [x]), (shape[0], 1, 1)
        op = "AveragePool" if kind == "avg" else "MaxPool"
        (wy, wx), (sy, sx), (py, px) = p.window, p.stride, p.pad
        if (py or px) and kind == "avg":
            raise ModelUnavailableError("padded dlib avg_pool is not supported")  # divisor semantics differ
        y = self.node(op, [x], kernel_shape=[wy, wx], strides=[sy, sx], pads=[py, px, py, px])
        return y, (shape[0], _pool_out(shape[1], wy, sy, py), _pool_out(shape[2], wx, sx, px))

    def add_prev(
        self, a: str, a_shape: tuple[int, int, int], b: str, b_shape: tuple[int, int, int]
    ) -> tuple[str, tuple[int, int, int]]:
        """dlib's add_prev: the larger shape, both inputs anchored at index 0, the gap zero-filled."""
        self.take(AddPrev)
        out = (max(a_shape[0], b_shape[0]), max(a_shape[1], b_shape[1]), max(a_shape[2], b_shape[2]))

        def fit(x: str, s: tuple[int, int, int]) -> str:
            if s == out:
                return x
            pads = np.array([0, 0, 0, 0, 0, out[0] - s[0], out[1] - s[1], out[2] - s[2]], dtype=np.int64)
            return self.node("Pad", [x, self.const("pads", pads)], mode="constant")

        return self.node("Add", [fit(a, a_shape), fit(b, b_shape)]), out

    def relu(self, x: str) -> str:
        self.take(Relu)
        return self.node("Relu", [x])


def build_onnx(dat_path: Path) -> Any:
    """Convert dlib's ``.dat`` into an ``onnx.ModelProto`` computing the same raw 128-d descriptor."""
    from onnx import TensorProto, checker, helper

    net = parse_dat(dat_path)
    if net.input_size != (CHIP_SIZE, CHIP_SIZE):
        raise ModelUnavailableError(f"unexpected dlib input size {net.input_size}")
    g = _GraphBuilder(net)

    x = g.node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])
    x = g.node("Sub", [x, g.const("mean", np.array(net.mean_rgb, np.float32).reshape(1, 3, 1, 1))])
    x = g.node("Mul", [x, g.const("scale", np.array(1.0 / 256.0, np.float32))])
    shape = (3, CHIP_SIZE, CHIP_SIZE)
    x, shape = g.conv_affine(x, shape)
    x = g.relu(x)
    x, shape = g.pool(x, shape, "max")

    for _filters, down in _STAGES:
        y, y_shape = g.conv_affine(x, shape)
        y = g.relu(y)
        y, y_shape = g.conv_affine(y, y_shape)
        if down:  # add_prev2<avg_pool<skip1<tag2<block<tag1>>>>>: pooled input + block output
            skip, skip_shape = g.pool(x, shape, "avg")
            x, shape = g.add_prev(skip, skip_shape, y, y_shape)
        else:
            x, shape = g.add_prev(y, y_shape, x, shape)
        x = g.relu(x)

    x, shape = g.pool(x, shape, "avg")
    fc: Fc = g.take(Fc)
    if fc.weight.shape != (shape[0], DESCRIPTOR_DIM):
        raise ModelUnavailableError(f"unexpected dlib fc shape {fc.weight.shape}")
    x = g.node("Flatten", [x], axis=1)
    out = g.node("MatMul", [x, g.const("fc", fc.weight)])
    if g.layers:
        raise ModelUnavailableError(f"{len(g.layers)} dlib layers left unconverted")
    g.nodes.append(helper.make_node("Identity", [out], ["descriptor"], name="descriptor"))

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, ["N", DESCRIPTOR_DIM])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], producer_name="glasshouse", ir_version=8
    )
    model.doc_string = "dlib_face_recognition_resnet_model_v1 converted from dlib serialisation"
    checker.check_model(model)
    return model


# ---------------------------------------------------------------------------------------------------------
# Cache


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_path(cache_dir: Path, dat_path: Path) -> Path:
    """Cache file for this exact ``.dat``: its size and sha256 prefix are part of the name."""
    data = dat_path.read_bytes()
    return cache_dir / f"{CACHE_STEM}-{len(data)}-{_sha256(data)[:16]}.onnx"


def _digest_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + ".sha256")


def _cache_is_valid(onnx_path: Path) -> bool:
    try:
        expected = _digest_path(onnx_path).read_text().strip()
        return expected == _sha256(onnx_path.read_bytes())
    except OSError:
        return False


def ensure_onnx(cache_dir: Path, dat_path: Path | None = None) -> Path:
    """Path of the converted ONNX model under ``cache_dir``, converting (once) when missing or corrupt.

    The file name carries the ``.dat``'s size and hash prefix (a changed ``.dat`` gets a new file); a sidecar
    ``.sha256`` of the ONNX bytes detects a damaged cache, which is rebuilt. Conversion is deterministic, so
    two processes racing to build write identical bytes.
    """
    dat = dat_path if dat_path is not None else model_files.dlib_resnet_dat()
    path = cache_path(cache_dir, dat)
    if _cache_is_valid(path):
        return path
    data: bytes = build_onnx(dat).SerializeToString()
    atomic_write_bytes(path, data)
    atomic_write_bytes(_digest_path(path), _sha256(data).encode())
    return path
