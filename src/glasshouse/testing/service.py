"""Independent testing (Washington SB 6280 §5): anyone holding an API key may measure the engine on their own
labelled pairs and get the accuracy, false-match and false-non-match rates, overall and per subgroup.

It runs ``glasshouse evaluate pairs``'s code (:func:`glasshouse.evaluation.runner.evaluate_pairs`: the same
face choice, no-face policy, metrics and DET plot) on images staged in a private temporary folder, after every
input was checked: at most ``testing_max_pairs`` pairs and ``testing_max_images`` images, each one a JPEG or
PNG within the server's byte and pixel limits (decoded with :func:`glasshouse.engine.decode.decode_image`).

``testing.run`` is a capability the policy gate decides like any other: the figures of a crafted pair list
can stand in for a face comparison, so the default policy's moratorium on police face comparison covers it.
Nothing is stored (the staged images are deleted when the run ends) and only aggregate figures come back,
never a pair's score. So that those figures cannot be used as a comparison oracle, a run and each of its
subgroups need ``testing_min_group_pairs`` pairs (default 50), and no image pair may appear twice: not
repeated, not reversed, not the same image content under other names, and never an image against itself
(pairs are compared by the SHA-256 of their images). Refused lists are audited (``testing.run`` denied
under ``testing-anti-oracle``). Runs are limited per organisation (``testing_runs_per_hour``, a rolling
hour counted from the audit log itself, so the CLI, every server worker and restarts share it); and every
run is audited (``testing.run`` with counts and digests when admitted, ``testing.result`` with the headline
figures).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import math
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any, Protocol, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from glasshouse import __version__, db
from glasshouse.audit.models import AuditEntry
from glasshouse.audit.service import AuditFilter, AuditLog, digest
from glasshouse.config import Settings
from glasshouse.engine.decode import decode_image, sniff_format
from glasshouse.errors import GlasshouseError, ImageTooLargeError, InvalidImageError, InvalidInputError
from glasshouse.evaluation.embedding import PipelineConfig, default_workers
from glasshouse.evaluation.pairs import Pair, assign_folds, distinct_images, read_pair_csv
from glasshouse.evaluation.protocol import MIN_PAIRS_PER_CLASS_FOR_KFOLD
from glasshouse.evaluation.runner import evaluate_pairs
from glasshouse.governance.actor import Actor
from glasshouse.governance.audit_events import change_event, event
from glasshouse.governance.decision import Decision
from glasshouse.governance.gate import Gate
from glasshouse.governance.policy import Capability

MAX_CSV_BYTES = 4 * 1024 * 1024
#: Below this many images the run embeds in the calling process; above, in evaluation's process pool.
POOL_MIN_IMAGES = 64
RUN_ACTION = "testing.run"
#: The rule a refused pair list is audited under.
ANTI_ORACLE_RULE = "testing-anti-oracle"
RESULT_ACTION = "testing.result"
WINDOW = timedelta(hours=1)
_entries = cast(Table, AuditEntry.__table__)


class OracleRefused(InvalidInputError):
    """A pair list whose aggregate figures could reveal single comparisons (HTTP 400)."""

    code = "OracleRefused"


class RateLimited(GlasshouseError):
    """The organisation used up its testing runs for the rolling hour (HTTP 429)."""

    code = "TooManyRequests"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def member_name(raw: str, what: str) -> str:
    """A relative POSIX path without ``..``: the name an image has in the ZIP, the folder or the CSV."""
    path = PurePosixPath(raw)
    unsafe = (
        "\\" in raw
        or "\x00" in raw
        or path.is_absolute()
        or ".." in path.parts
        or (bool(path.parts) and ":" in path.parts[0])
    )
    if unsafe:
        raise InvalidInputError(f"{what} {raw!r}: only relative paths without '..' or '\\' are allowed")
    name = str(path)
    if name in ("", "."):
        raise InvalidInputError(f"{what}: empty image path")
    return name


class ImageSource(Protocol):
    """Where a run's images come from (a ZIP upload, or a folder for the CLI)."""

    kind: str

    def read(self, name: str, max_bytes: int) -> bytes:
        """The bytes of image ``name``; :class:`InvalidInputError` if absent, larger than ``max_bytes``."""
        ...


def _too_large(name: str, size: int, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"image {name!r} is {size} bytes; the limit is {limit} bytes")


class ZipImages:
    """A ZIP of JPEG/PNG images, checked before anything is read: no absolute or ``..`` member names,
    no encrypted members, at most ``max_members`` files holding at most ``max_total_bytes`` uncompressed,
    each at most ``max_member_bytes``, and every member a JPEG or PNG by its magic bytes. Members are
    never extracted by name (the run stages them under names of its own), so no member can land outside."""

    kind = "zip"

    def __init__(self, data: bytes, *, max_members: int, max_total_bytes: int, max_member_bytes: int) -> None:
        try:
            self._zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            raise InvalidInputError(f"images: not a readable ZIP archive ({exc})") from None
        self._members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            if info.is_dir() or info.filename.startswith("__MACOSX/"):
                continue  # folders, and the resource forks macOS's archiver adds
            name = member_name(info.filename, "ZIP member")
            if info.flag_bits & 0x1:
                raise InvalidInputError(f"ZIP member {name!r} is encrypted")
            if info.file_size > max_member_bytes:
                raise _too_large(name, info.file_size, max_member_bytes)
            total += info.file_size
            if total > max_total_bytes:
                raise InvalidInputError(f"the ZIP's images exceed {max_total_bytes} bytes uncompressed")
            if name in self._members:
                raise InvalidInputError(f"ZIP member {name!r} appears twice")
            self._members[name] = info
            if len(self._members) > max_members:
                raise InvalidInputError(f"the ZIP holds more than {max_members} images")
        if not self._members:
            raise InvalidInputError("the ZIP holds no images")
        for name, info in self._members.items():
            if sniff_format(self._open(name, info, 16)) is None:
                raise InvalidInputError(f"ZIP member {name!r} is not a JPEG or PNG image")

    def _open(self, name: str, info: zipfile.ZipInfo, limit: int) -> bytes:
        try:
            with self._zip.open(info) as fh:
                return fh.read(limit)
        except (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError) as exc:
            raise InvalidInputError(f"ZIP member {name!r} cannot be read ({exc})") from None

    def read(self, name: str, max_bytes: int) -> bytes:
        info = self._members.get(name)
        if info is None:
            raise InvalidInputError(f"image {name!r} is named in the CSV but not in the ZIP")
        data = self._open(name, info, max_bytes + 1)
        if len(data) > max_bytes:
            raise _too_large(name, len(data), max_bytes)
        return data


class DirectoryImages:
    """Images under a folder (the CLI's ``--root``); names may not leave it, through links either."""

    kind = "directory"

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def read(self, name: str, max_bytes: int) -> bytes:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise InvalidInputError(f"image {name!r} lies outside {self.root}")
        if not path.is_file():
            raise InvalidInputError(f"image {name!r} not found under {self.root}")
        size = path.stat().st_size
        if size > max_bytes:
            raise _too_large(name, size, max_bytes)
        return path.read_bytes()


@dataclass(frozen=True, slots=True)
class _Staged:
    pairs: list[Pair]  # paths of the staged copies
    names: dict[str, str]  # staged path -> the caller's name
    input_sha256: str


def _finite(value: Any) -> Any:
    """JSON-safe: NaN (a rate over zero pairs) and infinities become null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class TestingService:
    """Runs independent accuracy tests. Thread-safe: each run has its own engine and temporary folder."""

    __test__ = False  # not a pytest class

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        gate: Gate,
        *,
        clock: Callable[[], datetime] = db.utcnow,
        workers: Callable[[int], int] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sessions = sessions
        self.audit = audit
        self.gate = gate
        self._workers = workers or (lambda n: 1 if n < POOL_MIN_IMAGES else default_workers())

    def zip_images(self, data: bytes) -> ZipImages:
        s = self.settings
        if len(data) > s.testing_max_upload_bytes:
            raise InvalidInputError(
                f"the ZIP is {len(data)} bytes; the limit is {s.testing_max_upload_bytes}"
            )
        return ZipImages(
            data,
            max_members=s.testing_max_images,
            max_total_bytes=s.testing_max_upload_bytes,
            max_member_bytes=s.max_image_bytes,
        )

    def run(
        self, actor: Actor, csv_data: bytes, images: ImageSource, *, subgroup_column: str | None = None
    ) -> dict[str, Any]:
        """Ask the policy, check the input, admit the run (rate limit + audit), evaluate, audit the result,
        report."""
        decision = self.check_admissible(actor)
        with tempfile.TemporaryDirectory(prefix="glasshouse-testing-") as tmp:
            work = Path(tmp)
            try:
                pairs = self._parse(csv_data, work, subgroup_column)
                staged = self._stage(pairs, images, work / "images", csv_data)
            except OracleRefused as exc:
                details = {"csv_sha256": digest(csv_data), "reason": exc.message}
                self.audit.record(event(actor, RUN_ACTION, "deny", rule=ANTI_ORACLE_RULE, details=details))
                raise
            if subgroup_column is None and any(p.subgroup is not None for p in pairs):
                subgroup_column = "subgroup"  # read_pair_csv's default column
            run_id = db.new_id()
            groups = Counter(p.subgroup for p in pairs if p.subgroup is not None)
            admitted = self._admit(
                actor,
                decision,
                {
                    "run_id": run_id,
                    "source": images.kind,
                    "pairs": len(pairs),
                    "same": sum(p.same for p in pairs),
                    "images": len(staged.names),
                    "subgroup_column": subgroup_column,
                    "subgroups": len(groups),
                    "csv_sha256": digest(csv_data),
                    "input_sha256": staged.input_sha256,
                },
            )
            try:
                summary = evaluate_pairs(
                    staged.pairs,
                    self._config(),
                    work / "out",
                    name="testing",
                    folds=assign_folds([p.same for p in staged.pairs]),
                    command="glasshouse testing run",
                    workers=self._workers(len(staged.names)),
                )
                report = self._report(run_id, admitted, actor, staged, summary, subgroup_column)
            except Exception as exc:
                code = exc.code if isinstance(exc, GlasshouseError) else "InternalError"
                self.audit.record(change_event(actor, RESULT_ACTION, {"run_id": run_id, "outcome": code}))
                raise
        self.audit.record(change_event(actor, RESULT_ACTION, _headline(report)))
        return report

    # -- input ----------------------------------------------------------------------------------------------
    def _parse(self, csv_data: bytes, work: Path, subgroup_column: str | None) -> list[Pair]:
        if len(csv_data) > MAX_CSV_BYTES:
            raise InvalidInputError(f"the pairs CSV is {len(csv_data)} bytes; the limit is {MAX_CSV_BYTES}")
        path = work / "pairs.csv"
        path.write_bytes(csv_data)
        try:
            raw = read_pair_csv(path, Path(), subgroup_column)
        except InvalidInputError as exc:
            raise InvalidInputError(exc.message.replace(f"pair CSV {path}", "pairs CSV")) from None
        except (UnicodeDecodeError, csv.Error, TypeError, AttributeError, ValueError) as exc:
            raise InvalidInputError(
                f"pairs CSV: not a readable UTF-8 CSV with one value per column ({exc})"
            ) from None
        pairs = [
            Pair(
                Path(member_name(str(p.a), "pairs CSV path")),
                Path(member_name(str(p.b), "pairs CSV path")),
                p.same,
                subgroup=p.subgroup,
            )
            for p in raw
        ]
        s = self.settings
        if len(pairs) > s.testing_max_pairs:
            raise InvalidInputError(
                f"the CSV lists {len(pairs)} pairs; a run takes at most {s.testing_max_pairs}"
            )
        least = s.testing_min_group_pairs
        if len(pairs) < least:
            raise OracleRefused(
                f"the CSV lists {len(pairs)} pairs; a run needs at least {least}, so that its figures do not "
                "reveal single comparisons"
            )
        n_images = len(distinct_images(pairs))
        if n_images > s.testing_max_images:
            raise InvalidInputError(
                f"the pairs name {n_images} images; a run takes at most {s.testing_max_images}"
            )
        if subgroup_column is not None or any(p.subgroup is not None for p in pairs):
            counts = Counter(p.subgroup or "" for p in pairs)
            small = {g: n for g, n in sorted(counts.items()) if n < least}
            if small:
                listed = ", ".join(f"{g or '(blank)'!r}: {n}" for g, n in list(small.items())[:5])
                raise OracleRefused(
                    f"every subgroup needs at least {least} pairs, so that its figures do not "
                    f"reveal single comparisons; too few in {listed}"
                )
        return pairs

    def _stage(self, pairs: Sequence[Pair], images: ImageSource, folder: Path, csv_data: bytes) -> _Staged:
        """Read, check and decode every image once, and copy it under a name of our own."""
        folder.mkdir()
        s = self.settings
        staged: dict[str, Path] = {}
        hashes: list[str] = []
        content: dict[str, str] = {}  # name -> SHA-256 of its bytes
        for i, path in enumerate(distinct_images(pairs)):
            name = path.as_posix()
            data = images.read(name, s.max_image_bytes)
            try:
                decode_image(data, max_bytes=s.max_image_bytes, max_pixels=s.max_image_pixels)
            except InvalidImageError as exc:
                raise type(exc)(f"image {name!r}: {exc.message}") from None
            suffix = ".png" if sniff_format(data) == "PNG" else ".jpg"
            target = folder / f"{i:05d}{suffix}"
            target.write_bytes(data)
            staged[name] = target
            content[name] = hashlib.sha256(data).hexdigest()
            hashes.append(f"{name}\0{content[name]}")
        _refuse_repeats(pairs, content)
        text = "\n".join([digest(csv_data), *sorted(hashes)])
        return _Staged(
            [
                Pair(staged[p.a.as_posix()], staged[p.b.as_posix()], p.same, subgroup=p.subgroup)
                for p in pairs
            ],
            {str(path): name for name, path in staged.items()},
            digest(text.encode()),
        )

    # -- rate limit and audit -------------------------------------------------------------------------------
    def _quota(self, session: Session, actor: Actor, now: datetime, extra: int) -> tuple[str, int] | None:
        """``(message, retry-after seconds)`` when ``extra`` more runs would exceed the organisation's limit."""
        limit = self.settings.testing_runs_per_hour
        if limit <= 0:
            return None
        where = AuditFilter(org_id=actor.org_id, action=RUN_ACTION, decision="allow", since=now - WINDOW)
        query = select(_entries.c.created_at).where(*where.clauses()).order_by(_entries.c.seq)
        window = list(session.execute(query).scalars())
        if len(window) + extra <= limit:
            return None
        oldest = window[len(window) + extra - limit - 1]
        oldest = oldest.replace(tzinfo=now.tzinfo) if oldest.tzinfo is None else oldest
        wait = max(1, math.ceil((oldest + WINDOW - now).total_seconds()))
        message = (
            f"organisation {actor.org_name!r} has used its {limit} testing runs for the last hour; "
            f"try again in {wait} s"
        )
        return message, wait

    def _refuse(self, actor: Actor, details: dict[str, Any], over: tuple[str, int]) -> RateLimited:
        message, wait = over
        self.audit.record(event(actor, RUN_ACTION, "deny", details={**details, "reason": message}))
        return RateLimited(message, wait)

    def check_admissible(self, actor: Actor) -> Decision:
        """Refuse early (before the input is read) when the policy denies the organisation ``testing.run``
        (audited by the gate) or it has no run left this hour; the allowing decision otherwise."""
        decision = self.gate.ensure(actor, Capability.TESTING_RUN)
        with db.transaction(self.sessions) as session:
            over = self._quota(session, actor, self.clock(), extra=1)
        if over is not None:
            raise self._refuse(actor, {}, over)
        return decision

    def _admit(self, actor: Actor, decision: Decision, details: dict[str, Any]) -> datetime:
        """Append the run's ``testing.run`` entry and count the organisation's runs in the last hour in one
        transaction (serialised by the audit head's lock), so concurrent runs cannot overshoot the limit."""
        over: tuple[str, int] | None = None
        try:
            with db.transaction(self.sessions) as session:
                allow = event(
                    actor,
                    RUN_ACTION,
                    "allow",
                    rule=decision.rule_id,
                    policy_version=decision.policy_version,
                    details=details,
                )
                entry = self.audit.append(session, allow)
                over = self._quota(session, actor, entry.created_at, extra=0)
                if over is not None:
                    raise _Refused  # rolls the entry back
                return entry.created_at
        except _Refused:
            assert over is not None
            raise self._refuse(actor, details, over) from None

    # -- report ---------------------------------------------------------------------------------------------
    def _config(self) -> PipelineConfig:
        s = self.settings
        return PipelineConfig(model_cache_dir=s.models_path, aligner=s.aligner, flip=s.embed_flip, threads=1)

    def _report(
        self,
        run_id: str,
        created_at: datetime,
        actor: Actor,
        staged: _Staged,
        summary: dict[str, Any],
        subgroup_column: str | None,
    ) -> dict[str, Any]:
        overall = summary["results"]
        kfold = overall.get("kfold")
        png = Path(summary["plot"]).read_bytes()
        report: dict[str, Any] = {
            "run_id": run_id,
            "created_at": created_at.isoformat(),
            "organisation": actor.org_name,
            "input": {
                "pairs": overall["pairs"],
                "same": overall["same"],
                "different": overall["different"],
                "images": summary["images"],
                "subgroup_column": subgroup_column,
                "sha256": staged.input_sha256,
            },
            "engine": {"version": __version__, **summary["config"], "face_choice": summary["face_choice"]},
            "images": {
                "total": summary["images"],
                "no_face": summary["no_face"],
                "no_face_images": [staged.names.get(p, p) for p in summary["no_face_images"]],
                "no_face_policy": summary["no_face_policy"],
                "several_faces": summary["several_faces"],
            },
            "accuracy": kfold["accuracy_mean"] if kfold else None,
            "accuracy_protocol": (
                f"{kfold['folds']}-fold: threshold chosen on the other folds, tested on each"
                if kfold
                else f"no k-fold accuracy: it needs {MIN_PAIRS_PER_CLASS_FOR_KFOLD} same and "
                f"{MIN_PAIRS_PER_CLASS_FOR_KFOLD} different pairs; see the operating points"
            ),
            "overall": overall,
            "det_plot": {"media_type": "image/png", "base64": base64.b64encode(png).decode("ascii")},
            "timing": summary["timing"],
        }
        if "subgroups" in summary:
            report["subgroups"] = summary["subgroups"]
        return cast(dict[str, Any], _finite(report))


def _refuse_repeats(pairs: Sequence[Pair], content: dict[str, str]) -> None:
    """:class:`OracleRefused` if a pair compares an image with itself, or if two pairs compare the same two
    images (in either order, under any names: images are their SHA-256)."""
    seen: dict[frozenset[str], int] = {}
    for line, pair in enumerate(pairs, start=1):
        a, b = content[pair.a.as_posix()], content[pair.b.as_posix()]
        if a == b:
            raise OracleRefused(
                f"pair {line} ({pair.a.as_posix()}, {pair.b.as_posix()}) compares an image with itself"
            )
        key = frozenset((a, b))
        if key in seen:
            raise OracleRefused(
                f"pair {line} ({pair.a.as_posix()}, {pair.b.as_posix()}) repeats pair {seen[key]}: every pair "
                "must compare two images no other pair compares (in either order, under any name)"
            )
        seen[key] = line


class _Refused(Exception):
    """Rolls the admission transaction back."""


def _headline(report: dict[str, Any]) -> dict[str, Any]:
    """The figures a run reported, for its ``testing.result`` audit entry (no names, no images)."""
    points = {f"{p['similarity']:g}": p for p in report["overall"]["operating_points"]}
    return {
        "run_id": report["run_id"],
        "outcome": "ok",
        "input_sha256": report["input"]["sha256"],
        "pairs": report["input"]["pairs"],
        "images": report["images"]["total"],
        "no_face": report["images"]["no_face"],
        "accuracy": report["accuracy"],
        "operating_points": {sim: {"fmr": p["fmr"], "fnmr": p["fnmr"]} for sim, p in sorted(points.items())},
        "subgroups": len(report.get("subgroups", {})),
    }
