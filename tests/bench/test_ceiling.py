"""Multiply-adds counted from an ONNX graph, checked against the arithmetic done by hand."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from glasshouse.bench.ceiling import conv_macs, dense_conv_ceiling, network_rate


def _model() -> bytes:
    """3 → 8 channels 3x3 (stride 2), then a grouped 8 → 8 1x1 (2 groups), then an 8 → 4 2x2 transpose."""
    w1 = numpy_helper.from_array(np.ones((8, 3, 3, 3), np.float32), "w1")
    w2 = numpy_helper.from_array(np.ones((8, 4, 1, 1), np.float32), "w2")
    w3 = numpy_helper.from_array(np.ones((8, 4, 2, 2), np.float32), "w3")
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Conv", ["a", "w2"], ["b"], group=2),
        helper.make_node("ConvTranspose", ["b", "w3"], ["y"], strides=[2, 2]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [w1, w2, w3],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def test_multiply_adds_of_convolutions_grouped_and_transposed() -> None:
    # 2 images of 32x32: the 3x3 stride-2 conv gives 8x16x16 outputs of 27 MACs each; the grouped 1x1 gives
    # 8x16x16 of 4 each; the transpose spreads each of 8x16x16 inputs over 4 outputs x 2x2 taps.
    expected = 2 * (8 * 16 * 16 * 27 + 8 * 16 * 16 * 4 + 8 * 16 * 16 * 4 * 4)
    assert conv_macs(_model(), (2, 3, 32, 32)) == expected


def test_a_network_rate_is_its_arithmetic_over_its_time() -> None:
    feed = np.zeros((1, 3, 64, 64), np.float32)
    rate = network_rate("tiny", _model(), feed, repeats=3)
    assert rate.gmacs == conv_macs(_model(), feed.shape) / 1e9
    assert rate.gflops == 2 * rate.gmacs / (rate.ms / 1000) > 0
    reference = dense_conv_ceiling(repeats=3)
    assert reference.gmacs == 128 * 56 * 56 * 128 * 9 / 1e9 and reference.gflops > 0
    assert rate.to_json(reference.gflops)["share_of_ceiling"] == round(rate.gflops / reference.gflops, 3)
