"""dlib ResNet conversion: the parsed network, the ONNX graph's interface, and the converted-model cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
import pytest

from glasshouse.engine import dlib_resnet
from glasshouse.engine.dlib_resnet import (
    AddPrev,
    Affine,
    Conv,
    Fc,
    Pool,
    Relu,
    build_onnx,
    ensure_onnx,
    parse_dat,
)
from glasshouse.engine.model_files import dlib_resnet_dat
from glasshouse.engine.runtime import onnx_session
from glasshouse.errors import ModelUnavailableError


def test_parse_dat_reads_the_whole_network() -> None:
    net = parse_dat(dlib_resnet_dat())
    assert net.input_size == (150, 150)
    np.testing.assert_allclose(net.mean_rgb, (122.782, 117.001, 104.298), atol=1e-3)
    kinds = [type(layer) for layer in net.layers]
    # stem conv + 2 convs in each of the 14 residual blocks; one affine per conv
    assert kinds.count(Conv) == kinds.count(Affine) == 29
    assert kinds.count(AddPrev) == 14 and kinds.count(Relu) == 29 and kinds[-1] is Fc
    pools = [layer for layer in net.layers if isinstance(layer, Pool)]
    assert [(p.kind, p.window, p.stride, p.pad) for p in pools] == [("max", (3, 3), (2, 2), (0, 0))] + [
        ("avg", (2, 2), (2, 2), (0, 0))
    ] * 4 + [("avg", (0, 0), (1, 1), (0, 0))]
    stem = net.layers[0]
    assert isinstance(stem, Conv) and stem.weight.shape == (32, 3, 7, 7) and stem.pad == (0, 0)


def test_truncated_dat_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "broken.dat"
    broken.write_bytes(dlib_resnet_dat().read_bytes()[:100_000])
    with pytest.raises(ModelUnavailableError):
        parse_dat(broken)


@pytest.fixture(scope="module")
def session(model_cache_dir: Path) -> object:
    return onnx_session(ensure_onnx(model_cache_dir), threads=2)


def test_graph_interface_and_dynamic_batch(session: object) -> None:
    (inp,) = session.get_inputs()  # type: ignore[attr-defined]
    (out,) = session.get_outputs()  # type: ignore[attr-defined]
    assert inp.name == "chips" and inp.type == "tensor(uint8)" and inp.shape[1:] == [150, 150, 3]
    assert out.name == "descriptor" and out.shape[1:] == [128]
    rng = np.random.default_rng(0)
    chips = rng.integers(0, 256, size=(3, 150, 150, 3), dtype=np.uint8)
    batch = session.run(None, {"chips": chips})[0]  # type: ignore[attr-defined]
    single = session.run(None, {"chips": chips[1:2]})[0]  # type: ignore[attr-defined]
    assert batch.shape == (3, 128) and batch.dtype == np.float32
    np.testing.assert_allclose(single[0], batch[1], atol=1e-5)


def test_cache_is_reused_and_rebuilt_when_corrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = ensure_onnx(tmp_path)
    good = path.read_bytes()
    onnx.load_model_from_string(good)  # a valid model

    def no_rebuild(_: Path) -> None:
        raise AssertionError("cache should have been reused")

    with monkeypatch.context() as m:
        m.setattr(dlib_resnet, "build_onnx", no_rebuild)
        assert ensure_onnx(tmp_path) == path

    for damage in (b"not a model", good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 1])):
        path.write_bytes(damage)
        assert ensure_onnx(tmp_path) == path
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(good).digest()


def test_cache_name_follows_the_dat_content(tmp_path: Path) -> None:
    a, b = tmp_path / "a.dat", tmp_path / "b.dat"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    assert dlib_resnet.cache_path(tmp_path, a) != dlib_resnet.cache_path(tmp_path, b)
    assert dlib_resnet.cache_path(tmp_path, a).name.startswith("dlib_resnet_v1-3-")


def test_build_is_deterministic() -> None:
    first = build_onnx(dlib_resnet_dat()).SerializeToString()
    assert build_onnx(dlib_resnet_dat()).SerializeToString() == first
