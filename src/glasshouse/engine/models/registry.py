"""Which models this installation has: the built-in dlib ResNet and the packs installed (on purpose) under
the model-pack folder, one folder per pack holding ``card.yaml`` and ``model.onnx``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from glasshouse.engine.models.builtin import BUILTIN, KNOWN_PACKS
from glasshouse.engine.models.card import ModelCard, check_model_name
from glasshouse.errors import InvalidParameterError, ModelNotInstalledError

CARD_FILE = "card.yaml"
MODEL_FILE = "model.onnx"
ACCEPTANCE_FILE = "accepted.json"


@dataclass(frozen=True, slots=True)
class Listed:
    card: ModelCard
    installed: bool
    builtin: bool


class ModelRegistry:
    """Cards by name and by FaceModelVersion. ``aligner`` is the server's dlib-geometry aligner setting,
    which is part of the dlib model's FaceModelVersion."""

    def __init__(self, packs_dir: Path, aligner: str = "landmarks") -> None:
        self.packs_dir = packs_dir
        self.aligner = aligner

    def pack_dir(self, name: str) -> Path:
        return self.packs_dir / check_model_name(name)  # never a path outside the packs folder

    def is_installed(self, name: str) -> bool:
        if name in BUILTIN:
            return True
        d = self.pack_dir(name)
        return (d / CARD_FILE).is_file() and (d / MODEL_FILE).is_file()

    def installed(self) -> list[ModelCard]:
        cards = list(BUILTIN.values())
        if self.packs_dir.is_dir():
            for d in sorted(self.packs_dir.iterdir()):
                if d.name not in BUILTIN and _pack_name(d.name) and self.is_installed(d.name):
                    cards.append(self.card(d.name))
        return cards

    def listing(self) -> list[Listed]:
        out = [Listed(c, True, c.name in BUILTIN) for c in self.installed()]
        names = {item.card.name for item in out}
        out += [Listed(c, False, False) for n, c in KNOWN_PACKS.items() if n not in names]
        return out

    def card(self, name: str) -> ModelCard:
        """The installed card (its anchors as last calibrated), else the known definition."""
        if name in BUILTIN:
            return BUILTIN[name]
        path = self.pack_dir(name) / CARD_FILE
        if path.is_file():
            return ModelCard.from_yaml(path.read_text(encoding="utf-8"))
        if name in KNOWN_PACKS:
            return KNOWN_PACKS[name]
        known = ", ".join([*BUILTIN, *KNOWN_PACKS])
        raise ModelNotInstalledError(f"no model {name!r} (known: {known}; or install your own with --onnx)")

    def require(self, name: str) -> ModelCard:
        """The card of an installed model; ModelNotInstalledError naming the install command otherwise."""
        card = self.card(name)
        if not self.is_installed(name):
            raise ModelNotInstalledError(
                f"face model {name!r} is not installed: an operator must install it on purpose "
                f"(glasshouse models show {name}; glasshouse models install {name})"
            )
        return card

    def model_file(self, name: str) -> Path | None:
        """The ONNX file of an installed pack (None for a built-in model)."""
        return None if name in BUILTIN else self.pack_dir(name) / MODEL_FILE

    def by_version(self, model_version: str) -> ModelCard:
        """The installed model whose FaceModelVersion is ``model_version``."""
        for card in self.installed():
            if card.model_version(self.aligner) == model_version:
                return card
        for card in KNOWN_PACKS.values():
            if card.model_version(self.aligner) == model_version:
                raise ModelNotInstalledError(
                    f"this collection's face model {card.name!r} ({model_version}) is not installed here "
                    f"(glasshouse models install {card.name})"
                )
        raise ModelNotInstalledError(
            f"no installed face model produces FaceModelVersion {model_version!r}; install the pack this "
            "collection was created with (glasshouse models list)"
        )

    def acceptance(self, name: str) -> dict[str, str] | None:
        path = self.pack_dir(name) / ACCEPTANCE_FILE
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None


def _pack_name(name: str) -> bool:
    """Whether a folder in the packs folder can be a pack (anything else there, e.g. ``.cache``, is not)."""
    try:
        check_model_name(name)
    except InvalidParameterError:
        return False
    return True
