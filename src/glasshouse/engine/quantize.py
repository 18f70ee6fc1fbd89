"""int8 (VNNI) versions of the float models, built deterministically at first use and cached.

Static quantisation (QDQ, weights int8 per output channel, activations uint8): the weights come from the
registry model; the activation ranges come from a small committed table (``int8/<model>.ranges.json``, a
minimum and maximum per tensor, measured once on LFW images by :func:`measure_ranges`). The same float model
and table always give the same int8 model, so nothing derived from face data except that table is shipped.

On CPUs with VNNI (AVX-512 or AVX) the uint8 x int8 kernels run several times faster than on plain AVX2,
which also risks saturating its 16-bit accumulators: ``precision: auto`` therefore means int8 only with VNNI.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glasshouse.engine.hardware import cpu_info
from glasshouse.engine.runtime import atomic_write_bytes
from glasshouse.errors import ModelUnavailableError

Precision = Literal["auto", "float", "int8"]
RANGES_DIR = Path(__file__).parent / "int8"
#: Bump when the quantisation recipe below changes, so int8 models built the old way are rebuilt.
RECIPE_VERSION = 1


def resolve(precision: str) -> Literal["float", "int8"]:
    """``auto`` is int8 where the CPU has VNNI, float elsewhere."""
    if precision == "auto":
        return "int8" if cpu_info().has_vnni else "float"
    if precision not in ("float", "int8"):
        raise ValueError(f"precision must be auto, float or int8, not {precision!r}")
    return "int8" if precision == "int8" else "float"


def ranges_path(model: str) -> Path:
    return RANGES_DIR / f"{model}.ranges.json"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def ensure_int8(float_model: bytes, model: str, cache_dir: Path) -> bytes:
    """The int8 model for ``float_model`` (named ``model``), from the cache or built once and cached.

    Cached as ``<model>-int8-r<recipe>-<float digest>-<ranges digest>-<content digest>.onnx``: a changed
    float model or table finds no match; a file whose content no longer matches its name is rebuilt.
    """
    try:
        table = ranges_path(model).read_bytes()
    except OSError as exc:
        raise ModelUnavailableError(f"no int8 activation ranges for {model}: {exc}") from exc
    prefix = f"{model}-int8-r{RECIPE_VERSION}-{_digest(float_model)}-{_digest(table)}-"
    for candidate in sorted(cache_dir.glob(f"{prefix}*.onnx")):
        with contextlib.suppress(OSError):
            data = candidate.read_bytes()
            if _digest(data) == candidate.stem.removeprefix(prefix):
                return data
    data = quantise(float_model, json.loads(table))
    with contextlib.suppress(OSError):  # a read-only or full cache only costs a rebuild next time
        atomic_write_bytes(cache_dir / f"{prefix}{_digest(data)}.onnx", data)
    return data


def quantise(float_model: bytes, ranges: Mapping[str, Any]) -> bytes:
    """Static QDQ quantisation of ``float_model`` with the given activation ``ranges`` (no data needed)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorsData, save_tensors_data
    from onnxruntime.quantization.shape_inference import quant_pre_process

    tensors = TensorsData(
        CalibrationMethod.MinMax,
        {
            name: (np.array(lo, dtype=np.float32), np.array(hi, dtype=np.float32))
            for name, (lo, hi) in ranges["ranges"].items()
        },
    )
    with tempfile.TemporaryDirectory(prefix="glasshouse-int8-") as tmp:
        src, pre, out, cal = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx", "cal.json"))
        src.write_bytes(_at_least_opset_13(float_model))
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        save_tensors_data(tensors, cal)
        quantize_static(
            str(pre),
            str(out),
            None,
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibration_cache_path=str(cal),
        )
        return out.read_bytes()


def _at_least_opset_13(model_bytes: bytes) -> bytes:
    """Per-channel DequantizeLinear needs opset 13; the bundled CenterFace graph is older."""
    import onnx
    from onnx import version_converter

    model = onnx.load_model_from_string(model_bytes)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset >= 13:
        return model_bytes
    return bytes(version_converter.convert_version(model, 13).SerializeToString())


def measure_ranges(float_model: bytes, feeds: Iterable[Mapping[str, Any]], source: str) -> dict[str, Any]:
    """Minimum and maximum of every activation over ``feeds`` (the committed ranges table's content)."""
    from onnxruntime.quantization import create_calibrator
    from onnxruntime.quantization.calibrate import CalibrationDataReader
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.feeds = iter(feeds)

        def get_next(self) -> dict[str, Any] | None:
            feed = next(self.feeds, None)
            return None if feed is None else dict(feed)

    with tempfile.TemporaryDirectory(prefix="glasshouse-int8-") as tmp:
        src, pre = Path(tmp) / "float.onnx", Path(tmp) / "pre.onnx"
        src.write_bytes(float_model)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        calibrator = create_calibrator(pre, augmented_model_path=str(Path(tmp) / "augmented.onnx"))
        calibrator.collect_data(Reader())
        data = calibrator.compute_data()
    ranges = {
        name: [round(float(np.ravel(t.range_value[0])[0]), 6), round(float(np.ravel(t.range_value[1])[0]), 6)]
        for name, t in sorted(data.data.items())
    }
    return {"source": source, "method": "minmax", "ranges": ranges}
