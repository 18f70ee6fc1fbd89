"""Model runtime helpers: a locked lazy loader and one onnxruntime session factory."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from glasshouse.errors import ModelUnavailableError

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


def onnx_session(model: Path | bytes, threads: int = 0, *, arena: bool = True) -> Any:
    """An onnxruntime CPU session with quiet logging. ``threads=0`` lets onnxruntime use every core.
    ``arena=False`` for inputs of varying size: onnxruntime's memory arena grows with every new shape and
    concurrent run and never gives memory back."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the bundled graphs otherwise print hundreds of warnings
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
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
