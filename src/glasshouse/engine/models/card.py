"""Model cards: what a face recognition model is, where it came from, under which terms, how it is fed, and
how well it was measured to work. A card is plain data, written as YAML beside an installed pack."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import yaml

from glasshouse.engine.similarity import Calibration
from glasshouse.errors import InvalidParameterError

Kind = Literal["dlib-resnet", "five-point-onnx"]
#: dlib's chip: its 5-point shape predictor (or the detector's landmarks mapped onto the same geometry),
#: ``get_face_chip(size=150, padding=0.25)``.
DLIB_150 = "dlib-150-padding-0.25"
#: The standard five-point 112x112 ArcFace/InsightFace template.
ARCFACE_112 = "arcface-five-point-112"
ALIGNMENTS = (DLIB_150, ARCFACE_112)
KINDS: tuple[Kind, ...] = ("dlib-resnet", "five-point-onnx")
#: The detector every model shares; first part of each FaceModelVersion.
DETECTOR_ID = "centerface1"


def check_model_name(name: str) -> str:
    """``name`` if it can name a model (and its pack folder): ASCII letters, digits, - or _, at most 40."""
    if not (name.isascii() and name.replace("-", "").replace("_", "").isalnum()) or len(name) > 40:
        raise InvalidParameterError(f"model name {name[:48]!r} must be letters, digits, - or _ (≤ 40)")
    return name


@dataclass(frozen=True, slots=True)
class Licences:
    """Plain-words terms of the code, the weights and the data the weights were trained on."""

    code: str
    weights: str
    training_data: str


@dataclass(frozen=True, slots=True)
class InputSpec:
    """How chips are fed: ``size`` x ``size`` pixels; ``layout`` ``uint8-nhwc`` (raw chips) or ``float-nchw`` /
    ``float-nhwc`` with each channel value ``(x - mean) / scale``, channels in ``channels`` order."""

    size: int
    layout: Literal["uint8-nhwc", "float-nchw", "float-nhwc"] = "float-nchw"
    channels: Literal["RGB", "BGR"] = "RGB"
    mean: float = 0.0
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class Accuracy:
    """Measured figures and the command that measured them (fractions; ``None`` where not measured)."""

    lfw_view2: str | None = None
    tar_at_fmr_1e_6: float | None = None
    tar_at_fmr_1e_3: float | None = None
    command: str = ""
    notes: str = ""


@dataclass(frozen=True, slots=True)
class Source:
    """Where a pack's weights come from: ``npm`` (package spec + member path in its tarball) or ``file``."""

    kind: Literal["builtin", "npm", "file"]
    package: str | None = None
    member: str | None = None
    size: int | None = None
    sha256: str | None = None
    format: Literal["tflite", "onnx", "dlib"] = "onnx"


@dataclass(frozen=True, slots=True)
class ModelCard:
    name: str
    version: str
    #: Short identifier of the network in FaceModelVersion strings (bump on any change to embeddings).
    model_id: str
    kind: Kind
    summary: str
    provenance: str
    licences: Licences
    input: InputSpec
    alignment: str
    embedding_dim: int
    #: (cosine, similarity, FMR bound) rows, cosine increasing from -1 to 1 (see engine/similarity.py).
    anchors: tuple[tuple[float, float, float], ...]
    anchors_source: str
    accuracy: Accuracy
    source: Source
    #: A default-quality model (clean licence) rather than an opt-in pack.
    default: bool = False
    warnings: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidParameterError(f"model card {self.name!r}: kind must be one of {', '.join(KINDS)}")
        if self.alignment not in ALIGNMENTS:
            raise InvalidParameterError(
                f"model card {self.name!r}: alignment must be one of {', '.join(ALIGNMENTS)}"
            )
        if not 16 <= self.embedding_dim <= 4096:
            raise InvalidParameterError(f"model card {self.name!r}: embedding_dim must be 16..4096")
        check_model_name(self.name)
        if not self.model_id.isalnum() or len(self.model_id) > 24:
            raise InvalidParameterError(f"model card {self.name!r}: model_id must be letters/digits (≤ 24)")
        Calibration(self.anchors)  # raises on a non-monotone table

    @property
    def calibration(self) -> Calibration:
        return Calibration(self.anchors)

    def aligner_id(self, aligner: str = "landmarks") -> str:
        """The alignment part of FaceModelVersion: dlib's geometry from CenterFace landmarks (``lm5``) or from
        dlib's predictor (``dlib5``); the ArcFace template (``af5``)."""
        if self.alignment == ARCFACE_112:
            return "af5"
        return "dlib5" if aligner == "dlib" else "lm5"

    def model_version(self, aligner: str = "landmarks") -> str:
        """The FaceModelVersion collections on this model record, e.g.
        ``glasshouse-centerface1-lm5-dlibresnet1``."""
        return "-".join(("glasshouse", DETECTOR_ID, self.aligner_id(aligner), self.model_id))

    def with_anchors(self, anchors: tuple[tuple[float, float, float], ...], source: str) -> ModelCard:
        return replace(self, anchors=anchors, anchors_source=source)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["anchors"] = [list(a) for a in self.anchors]
        data["warnings"] = list(self.warnings)
        return data

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True, width=100)

    @classmethod
    def from_dict(cls, data: Any) -> ModelCard:
        if not isinstance(data, dict):
            raise InvalidParameterError("a model card must be a mapping")
        try:
            d = dict(data)
            d["licences"] = Licences(**d["licences"])
            d["input"] = InputSpec(**d["input"])
            d["accuracy"] = Accuracy(**(d.get("accuracy") or {}))
            d["source"] = Source(**(d.get("source") or {"kind": "file"}))
            d["anchors"] = tuple((float(c), float(s), float(f)) for c, s, f in d["anchors"])
            d["warnings"] = tuple(str(w) for w in d.get("warnings") or ())
            d["embedding_dim"] = int(d["embedding_dim"])
            d["version"] = str(d["version"])
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(f"invalid model card: {exc}") from exc

    @classmethod
    def from_yaml(cls, text: str) -> ModelCard:
        try:
            return cls.from_dict(yaml.safe_load(text))
        except yaml.YAMLError as exc:
            raise InvalidParameterError(f"model card is not valid YAML: {exc}") from exc
