"""One face engine and analyser per installed face model, built on first use; the detector is shared.

A collection embeds everything with the model it was created with (its FaceModelVersion);
CompareFaces/DetectFaces use the server's default model (GLASSHOUSE_FACE_MODEL)."""

from __future__ import annotations

import threading

from glasshouse.engine.models.card import ModelCard
from glasshouse.engine.models.registry import ModelRegistry
from glasshouse.engine.similarity import Calibration
from glasshouse.faces.service import FaceAnalyser

#: CreateCollection tag naming the collection's face model (so unmodified boto3 can choose one).
MODEL_TAG = "glasshouse:face-model"


class FaceModels:
    def __init__(self, registry: ModelRegistry, base: FaceAnalyser, default_name: str = "dlib") -> None:
        """``base`` is the analyser of the built-in model (dlib, possibly with injected parts)."""
        self.registry = registry
        self.base = base
        self.default_name = default_name
        self._analysers: dict[str, FaceAnalyser] = {}
        self._lock = threading.Lock()

    @property
    def default(self) -> FaceAnalyser:
        return self.analyser(self.default_name)

    def card(self, name: str) -> ModelCard:
        """The installed model's card; ModelNotInstalledError otherwise."""
        return self.registry.require(name)

    def analyser(self, name: str) -> FaceAnalyser:
        """The analyser embedding with model ``name`` (ModelNotInstalledError unless installed)."""
        with self._lock:
            found = self._analysers.get(name)
            if found is None:
                card = self.registry.require(name)
                engine = self.base.engine.with_model(card, self.registry.model_file(name))
                found = self.base if engine is self.base.engine else self.base.with_engine(engine)
                self._analysers[name] = found
            return found

    def for_version(self, model_version: str) -> FaceAnalyser:
        """The analyser of the model a collection was created with (by its FaceModelVersion)."""
        if model_version == self.base.engine.model_version:
            return self.base
        return self.analyser(self.registry.by_version(model_version).name)

    def calibration(self, model_version: str) -> Calibration:
        return self.for_version(model_version).engine.calibration
