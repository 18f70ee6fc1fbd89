"""Model runtime helpers: a locked lazy loader, one onnxruntime session factory, and the thread settings
chosen by measuring this machine (cached per kind of machine, so the probe runs once)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from glasshouse.engine.hardware import cpu_info
from glasshouse.errors import ModelUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Lazy(Generic[T]):
    """Builds a value on first use, once, even when several threads ask at the same time."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        value = self._value
        if value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._factory()
                value = self._value
        return value

    @property
    def loaded(self) -> bool:
        return self._value is not None


def onnx_session(model: Path | bytes, threads: int = 0, *, spin: bool = True, arena: bool = True) -> Any:
    """An onnxruntime CPU session with quiet logging. ``threads=0`` lets onnxruntime use every core;
    ``spin=False`` makes idle intra-op threads sleep instead of spin-waiting (kinder to a busy machine).
    ``arena=False`` for inputs of varying size: onnxruntime's memory arena grows with every new shape and
    concurrent run and never gives memory back."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the bundled graphs otherwise print hundreds of warnings
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = arena
    source = str(model) if isinstance(model, Path) else model
    try:
        return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises several unrelated types
        raise ModelUnavailableError(f"cannot load ONNX model: {exc}") from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write a cache file so that a concurrent reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True, slots=True)
class ThreadPlan:
    """Intra-op threads and spin-waiting for one model; ``source`` says how it was chosen."""

    threads: int
    spin: bool
    source: str  # "setting", "measured" or "cached"
    ms: float | None = None  # the probe's fastest run, when measured

    @property
    def shares_cores(self) -> bool:
        """Whether a run that overlaps another uses a one-thread twin (:class:`SharedCoresSession`): a
        measured multi-thread plan does; a thread count set by hand is used as given, also under load."""
        return self.threads > 1 and self.source != "setting"

    @property
    def threads_when_overlapping(self) -> int:
        return 1 if self.shares_cores else self.threads

    def describe(self) -> str:
        spin = "" if self.spin or self.threads == 1 else ", no spin-wait"
        timing = f", {self.ms:.2f} ms per probe run" if self.ms is not None else ""
        shared = "; 1 each when runs overlap" if self.shares_cores else ""
        return f"{self.threads} thread{'s' if self.threads > 1 else ''}{spin}{shared} ({self.source}{timing})"


#: Bump when the probe changes, so plans measured the old way are measured again. 2: fastest of 7 rounds
#: (was the median of 5, which a neighbour's burst of work could tip either way on a shared machine).
#: 3: no spin-waiting multi-thread candidate.
PROBE_VERSION = 3
PROBE_ROUNDS = 7
PLAN_FILE = "thread-plans.json"


def _candidates(cores: int) -> list[tuple[int, bool]]:
    """One thread, or every core without spin-waiting. Spin-waiting pools are not offered: each is timed
    alone, but the engine alternates two models' pools, and an idle pool spinning on the cores the other
    is computing on (or a neighbour needs) cost more than it saved (measured: with both models on two
    spin-waiting threads, 2.8x face_recognition instead of 7.3x at load 1-3)."""
    if cores <= 1:
        return [(1, True)]
    return [(1, True), (cores, False)]


def tuned_session(
    model: Path | bytes,
    name: str,
    cache_dir: Path,
    probe: Sequence[Any],
    threads: int = 0,
    *,
    arena: bool = True,
) -> tuple[Any, ThreadPlan]:
    """A session for ``model`` with the thread settings that ran ``probe`` (one array per input, in the
    graph's order) fastest on this machine.

    ``threads > 0`` (GLASSHOUSE_ONNX_THREADS) is used as given. Otherwise one thread and every usable core
    without spin-waiting are each timed (interleaved rounds; each candidate's fastest run counts,
    since other processes' work only ever adds time to a run) and the fastest is
    kept in ``cache_dir/thread-plans.json`` under the model name and the CPU's key (model, cores, ISA), so
    each kind of machine is probed once. A measured multi-thread plan runs overlapping calls on one thread
    each (:class:`SharedCoresSession`). Measured fact: on a quiet 2-core AMD EPYC one thread beat two.
    """
    if threads > 0:
        plan = ThreadPlan(threads, True, "setting")
        log.info("onnxruntime %s: %s", name, plan.describe())
        return onnx_session(model, threads, arena=arena), plan  # as configured, also under concurrency
    key = f"{name}@{cpu_info().key}@v{PROBE_VERSION}"
    path = cache_dir / PLAN_FILE
    cached = _read_plans(path).get(key)
    if cached is not None and _busy_then_quiet_now(cached):
        log.info("onnxruntime %s: plan measured on a busy machine; measuring again now it is quiet", name)
        cached = None
    if cached is not None:
        plan = ThreadPlan(int(cached["threads"]), bool(cached["spin"]), "cached", cached.get("ms"))
        log.info("onnxruntime %s: %s", name, plan.describe())
        session = onnx_session(model, plan.threads, spin=plan.spin, arena=arena)
        return _shared(model, session, plan, arena), plan
    session, plan = _probe(model, probe, _candidates(cpu_info().cores), arena)
    plans = _read_plans(path)  # re-read: another process may have added its own meanwhile
    plans[key] = {
        "threads": plan.threads,
        "spin": plan.spin,
        "ms": plan.ms,
        "load_per_core": _load_per_core(),
    }
    with contextlib.suppress(OSError):  # a read-only cache only costs a probe next time
        atomic_write_bytes(path, json.dumps(plans, indent=1, sort_keys=True).encode())
    log.info("onnxruntime %s on %s: %s", name, cpu_info().describe(), plan.describe())
    return _shared(model, session, plan, arena), plan


class SharedCoresSession:
    """A measured multi-thread session for a run alone, and a one-thread twin for runs that overlap.

    The probe times one run at a time; when several requests run the model at once, each taking every core
    would oversubscribe them, so a run that starts while another is in progress uses the one-thread twin.
    """

    def __init__(self, wide: Any, narrow: Any) -> None:
        self._wide, self._narrow = wide, narrow
        self._active = 0
        self._lock = threading.Lock()

    def get_inputs(self) -> Any:
        return self._wide.get_inputs()

    def run(self, output_names: Any, feed: Any) -> Any:
        with self._lock:
            overlapping = self._active > 0
            self._active += 1
        try:
            return (self._narrow if overlapping else self._wide).run(output_names, feed)
        finally:
            with self._lock:
                self._active -= 1


def _shared(model: Path | bytes, session: Any, plan: ThreadPlan, arena: bool) -> Any:
    if not plan.shares_cores:
        return session
    return SharedCoresSession(session, onnx_session(model, 1, arena=arena))


def _probe(
    model: Path | bytes, probe: Sequence[Any], candidates: list[tuple[int, bool]], arena: bool
) -> tuple[Any, ThreadPlan]:
    sessions = [onnx_session(model, t, spin=s, arena=arena) for t, s in candidates]
    feed = {i.name: x for i, x in zip(sessions[0].get_inputs(), probe, strict=True)}
    for session in sessions:
        session.run(None, feed)  # first run allocates; not timed
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(PROBE_ROUNDS):
        for i, session in enumerate(sessions):
            started = time.perf_counter()
            session.run(None, feed)
            times[i].append(time.perf_counter() - started)
    fastest = [min(t) for t in times]
    best = min(range(len(sessions)), key=lambda i: fastest[i])
    threads, spin = candidates[best]
    return sessions[best], ThreadPlan(threads, spin, "measured", round(1000 * fastest[best], 3))


def _load_per_core() -> float:
    try:
        return round(os.getloadavg()[0] / cpu_info().cores, 2)
    except OSError:  # not available on this platform
        return 0.0


def _busy_then_quiet_now(cached: dict[str, Any]) -> bool:
    """A plan measured while other work filled the cores is not the quiet machine's best: measure again
    when the machine is quiet (load under half a core each) and the plan was measured above one per core."""
    return float(cached.get("load_per_core", 0.0)) > 1.0 and _load_per_core() < 0.5


def _read_plans(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
