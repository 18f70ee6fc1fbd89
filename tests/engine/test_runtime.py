"""Thread settings are measured once per kind of machine and model, cached, logged, and overridable."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from glasshouse.config import Settings
from glasshouse.engine.hardware import cpu_info
from glasshouse.engine.pipeline import FaceEngine
from glasshouse.engine.runtime import PLAN_FILE, ThreadPlan, tuned_session


def small_model() -> bytes:
    """A 256x256 matmul chain: enough work for the probe to time, built here so the test needs no files."""
    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(256, 256)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("MatMul", ["h", "w"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "probe",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 256])],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def test_probe_measures_once_per_machine_and_caches_the_choice(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    x = np.ones((64, 256), dtype=np.float32)
    caplog.set_level(logging.INFO, logger="glasshouse.engine.runtime")
    session, plan = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert plan.source == "measured" and plan.ms is not None and plan.ms > 0
    assert plan.threads in (1, cpu_info().cores)
    assert session.run(None, {"x": x})[0].shape == (64, 256)
    stored = json.loads((tmp_path / PLAN_FILE).read_text())
    (key,) = stored
    assert key.startswith("probe-model@") and cpu_info().key in key
    assert stored[key]["threads"] == plan.threads and stored[key]["spin"] == plan.spin
    assert "probe-model" in caplog.text and cpu_info().model in caplog.text

    _, again = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert (again.source, again.threads, again.spin) == ("cached", plan.threads, plan.spin)
    _, other = tuned_session(small_model(), "other-model", tmp_path, [x])  # each model is measured
    assert other.source == "measured" and len(json.loads((tmp_path / PLAN_FILE).read_text())) == 2


def test_the_threads_setting_overrides_the_probe(tmp_path: Path) -> None:
    _, plan = tuned_session(small_model(), "probe-model", tmp_path, [np.ones((1, 256), np.float32)], 3)
    assert (plan.source, plan.threads) == ("setting", 3)
    assert not (tmp_path / PLAN_FILE).exists()


def test_engine_reports_how_its_models_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, shared_data: Path
) -> None:
    monkeypatch.setenv("GLASSHOUSE_ONNX_THREADS", "1")
    monkeypatch.setenv("GLASSHOUSE_EMBED_BATCH_WAIT_MS", "7")
    engine = FaceEngine.from_settings(Settings())
    summary = engine.runtime_summary()
    assert summary["detector"]["threads"] == "1 thread (setting)"  # type: ignore[index]
    assert summary["embedder"]["threads"] == "1 thread (setting)"  # type: ignore[index]
    assert summary["batching"]["wait_ms"] == 7.0  # type: ignore[index]
    assert summary["embedder"]["precision"] in ("float", "int8")  # type: ignore[index]


def test_overlapping_runs_of_a_multi_thread_plan_share_the_cores_and_agree() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from glasshouse.engine.runtime import SharedCoresSession, onnx_session

    model = small_model()
    used: list[str] = []

    class Named:  # records which twin ran; the work is the real session's
        def __init__(self, name: str, threads: int) -> None:
            self.name, self.session = name, onnx_session(model, threads)

        def get_inputs(self) -> object:
            return self.session.get_inputs()

        def run(self, names: object, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
            used.append(self.name)
            return list(self.session.run(names, feed))

    shared = SharedCoresSession(Named("wide", 2), Named("narrow", 1))
    x = np.random.default_rng(1).normal(size=(4096, 256)).astype(np.float32)  # long enough to overlap
    alone = shared.run(None, {"x": x})[0]
    assert used == ["wide"]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda _: shared.run(None, {"x": x})[0], range(24)))
    for r in results:
        np.testing.assert_allclose(r, alone, rtol=1e-4)
    assert "narrow" in used and shared.run(None, {"x": x}) is not None and used[-1] == "wide"


def test_a_plan_measured_on_a_busy_machine_is_measured_again_when_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    x = np.ones((64, 256), dtype=np.float32)
    cores = cpu_info().cores
    monkeypatch.setattr(os, "getloadavg", lambda: (3.0 * cores, 0.0, 0.0))  # the machine's reported load
    _, busy = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert busy.source == "measured"
    assert json.loads((tmp_path / PLAN_FILE).read_text()).popitem()[1]["load_per_core"] == 3.0
    _, still_busy = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert still_busy.source == "cached"
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1 * cores, 0.0, 0.0))
    _, quiet = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert quiet.source == "measured"
    _, later = tuned_session(small_model(), "probe-model", tmp_path, [x])
    assert later.source == "cached"  # measured quiet: kept


def test_overlapping_runs_of_a_measured_plan_take_one_thread_each() -> None:
    """A measured multi-thread plan runs overlapping calls on its one-thread twin, so the embedder's batcher
    may run one batch per core; a thread count set by hand is used as given, also when runs overlap."""
    assert ThreadPlan(2, False, "measured").threads_when_overlapping == 1
    assert ThreadPlan(2, False, "cached").shares_cores
    assert ThreadPlan(2, True, "setting").threads_when_overlapping == 2
    assert not ThreadPlan(1, False, "measured").shares_cores
