"""Face recognition models: cards (:mod:`.card`), the built-in dlib ResNet and known packs
(:mod:`.builtin`), what is installed (:mod:`.registry`) and installing packs (:mod:`.packs`)."""

from glasshouse.engine.models.builtin import DLIB, KNOWN_PACKS, MOBILEFACENET
from glasshouse.engine.models.card import ARCFACE_112, DLIB_150, ModelCard
from glasshouse.engine.models.registry import ModelRegistry

__all__ = ["ARCFACE_112", "DLIB", "DLIB_150", "KNOWN_PACKS", "MOBILEFACENET", "ModelCard", "ModelRegistry"]
