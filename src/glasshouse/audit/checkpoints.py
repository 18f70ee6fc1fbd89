"""Signed checkpoints of the audit chain, published outside the database.

The hash chain catches an edited, inserted or deleted entry, but not the whole log being swapped for an
older or empty one (delete every row and reset the head: an empty chain verifies). So the chain's head is
published now and then, in the spirit of Certificate Transparency's signed tree heads: a checkpoint states
the number of entries, the hash of the last one and the time, signed with an Ed25519 key derived from the
server key (its public key is published with every checkpoint). Checkpoints are appended to a file under
the data directory and served on the public transparency page and at ``/transparency/checkpoint.json``,
where anyone can fetch and keep them. :meth:`AuditCheckpoints.verify` checks the log against every
checkpoint it finds (the file, plus any an outside party kept): a log shorter than a checkpoint, or whose
entry at a checkpoint's size has another hash, fails.

The signed message (UTF-8, one field per line, like a C2SP transparency-log checkpoint)::

    glasshouse-audit-log
    <size>
    <head hash, 64 hex digits>
    <time, ISO 8601 UTC with microseconds>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from glasshouse import db
from glasshouse.audit.service import AuditLog, VerifyReport
from glasshouse.errors import GlasshouseError, InvalidParameterError

#: ``SecretBox.derive`` purpose of the checkpoint signing key's seed.
KEY_PURPOSE: Final = "audit-checkpoint"
ORIGIN: Final = "glasshouse-audit-log"
#: How much of the file's end :meth:`CheckpointFile.latest` reads (one checkpoint is ~400 bytes).
_TAIL_BYTES: Final = 16 * 1024


class CheckpointRefusedError(GlasshouseError):
    """No checkpoint was published: the log no longer holds what an earlier checkpoint said it held."""

    code = "AuditLogDoesNotExtendCheckpoint"


class CheckpointError(InvalidParameterError):
    """A checkpoint cannot be read, or its signature does not verify with this server's key."""

    code = "InvalidCheckpoint"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"a checkpoint's {what} is not base64") from None


def key_id(public_key: bytes) -> str:
    """The first 16 hex digits of the raw public key's SHA-256 (names the key in each checkpoint)."""
    return hashlib.sha256(public_key).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement: the audit log had ``size`` entries, the last one hashed ``head_hash``, at
    ``timestamp``."""

    size: int
    head_hash: str
    timestamp: datetime
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
    signature: str  # base64 of the Ed25519 signature of :meth:`message`

    @property
    def key_id(self) -> str:
        return key_id(_unb64(self.public_key, "public key"))

    def message(self) -> bytes:
        when = self.timestamp.astimezone(UTC).isoformat(timespec="microseconds")
        return f"{ORIGIN}\n{self.size}\n{self.head_hash}\n{when}\n".encode()

    def signature_ok(self, public_key: bytes) -> bool:
        """Whether the signature verifies with ``public_key`` (raw 32 bytes) and was made by it."""
        if _unb64(self.public_key, "public key") != public_key:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(public_key).verify(
                _unb64(self.signature, "signature"), self.message()
            )
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": ORIGIN,
            "size": self.size,
            "head_hash": self.head_hash,
            "timestamp": self.timestamp.astimezone(UTC).isoformat(timespec="microseconds"),
            "key_id": self.key_id,
            "public_key": self.public_key,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        if not isinstance(data, dict) or data.get("origin") != ORIGIN:
            raise CheckpointError(f"not a Glasshouse audit checkpoint (origin must be {ORIGIN!r})")
        size, head_hash, when = data.get("size"), data.get("head_hash"), data.get("timestamp")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise CheckpointError("a checkpoint's size is a whole number of entries")
        if not isinstance(head_hash, str) or len(head_hash) != 64:
            raise CheckpointError("a checkpoint's head_hash is 64 hex digits")
        try:
            int(head_hash, 16)
            moment = datetime.fromisoformat(str(when))
        except ValueError:
            raise CheckpointError("a checkpoint's head_hash or timestamp is malformed") from None
        if moment.tzinfo is None:
            raise CheckpointError("a checkpoint's timestamp carries a time zone")
        return cls(size, head_hash.lower(), moment, str(data.get("public_key")), str(data.get("signature")))


def parse_checkpoints(text: str, source: str = "checkpoints") -> list[Checkpoint]:
    """Checkpoints from JSON lines, concatenated JSON objects (``curl URL >> file``), or a JSON array."""
    decoder = json.JSONDecoder()
    out: list[Checkpoint] = []
    at = 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return out
        try:
            value, at = decoder.raw_decode(text, at)
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source}: not JSON at character {exc.pos}") from None
        for item in value if isinstance(value, list) else [value]:
            out.append(Checkpoint.from_json(item))


class CheckpointSigner:
    """The Ed25519 key that signs checkpoints (seeded from the server key: every node signs alike)."""

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def __repr__(self) -> str:
        return f"CheckpointSigner(key_id={key_id(self.public_key)!r})"

    def sign(self, size: int, head_hash: str, timestamp: datetime) -> Checkpoint:
        unsigned = Checkpoint(size, head_hash, timestamp.astimezone(UTC), _b64(self.public_key), "")
        signature = self._key.sign(unsigned.message())
        return Checkpoint(size, head_hash, unsigned.timestamp, unsigned.public_key, _b64(signature))


class CheckpointFile:
    """An append-only file of checkpoints, one JSON object per line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, checkpoint: Checkpoint) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(checkpoint.to_json(), separators=(",", ":")) + "\n").encode()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # after a torn last line (a crash mid-write), start a fresh one
            os.write(fd, line)  # one write of one line: appends from several processes do not interleave
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> tuple[list[Checkpoint], int]:
        """Every checkpoint in the file, and how many lines could not be read (a torn line after a crash
        can hold no valid checkpoint, so it is counted, not fatal)."""
        if not self.path.exists():
            return [], 0
        found: list[Checkpoint] = []
        unreadable = 0
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    found.extend(parse_checkpoints(line, str(self.path)))
                except CheckpointError:
                    unreadable += 1
        return found, unreadable

    def all(self) -> list[Checkpoint]:
        return self.read()[0]

    def latest(self) -> Checkpoint | None:
        """The last line's checkpoint (read from the end: the file grows with every interval)."""
        if not self.path.exists():
            return None
        with self.path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - _TAIL_BYTES))
            lines = fh.read().splitlines()
        for line in reversed(lines):
            try:
                return parse_checkpoints(line.decode("utf-8", errors="replace"), str(self.path))[-1]
            except (CheckpointError, IndexError):
                continue  # blank or torn
        return None


@dataclass(frozen=True)
class CheckpointReport:
    """:class:`VerifyReport` plus what the checkpoints said: how many were checked (from where), and the
    largest."""

    report: VerifyReport
    checkpoints: int
    sources: tuple[str, ...]
    largest: Checkpoint | None
    #: Lines of the server's checkpoint file that hold no readable checkpoint.
    unreadable: int = 0

    @property
    def ok(self) -> bool:
        return self.report.ok

    def to_json(self) -> dict[str, Any]:
        return {
            **self.report.to_json(),
            "checkpoints": self.checkpoints,
            "checkpoint_sources": list(self.sources),
            "checkpoint": self.largest.to_json() if self.largest else None,
            "unreadable_checkpoint_lines": self.unreadable,
        }


class AuditCheckpoints:
    """Publishes checkpoints of ``audit`` to ``file`` and checks the log against them."""

    def __init__(
        self,
        audit: AuditLog,
        signer: CheckpointSigner,
        file: CheckpointFile,
        clock: Callable[[], datetime] = db.utcnow,
    ) -> None:
        self.audit = audit
        self.signer = signer
        self.file = file
        self.clock = clock

    @property
    def public_key(self) -> str:
        return _b64(self.signer.public_key)

    @property
    def key_id(self) -> str:
        return key_id(self.signer.public_key)

    def latest(self) -> Checkpoint | None:
        return self.file.latest()

    def publish(self) -> Checkpoint:
        """Sign the chain's current head and append it to the file.

        Refused (:class:`CheckpointRefusedError`) when the log no longer holds what the largest published checkpoint
        said: signing a wiped or swapped log would bless it.
        """
        size, head_hash = self.audit.head()
        published = [c for c in self.file.all() if c.signature_ok(self.signer.public_key)]
        if published:
            largest = max(published, key=lambda c: c.size)
            if size < largest.size or self.audit.hash_at(largest.size) != largest.head_hash:
                raise CheckpointRefusedError(
                    f"the audit log (size {size}) does not extend the published checkpoint of size "
                    f"{largest.size}: run `glasshouse audit verify`; no checkpoint was published"
                )
        checkpoint = self.signer.sign(size, head_hash, self.clock())
        self.file.append(checkpoint)
        return checkpoint

    def verify(
        self,
        kept: Iterable[tuple[str, Sequence[Checkpoint]]] = (),
        anchor: tuple[int, str] | None = None,
    ) -> CheckpointReport:
        """Verify the chain against every checkpoint in the file and in ``kept`` (``(source, checkpoints)``
        an outside party kept). A checkpoint whose signature does not verify with this server's key, two
        that disagree, a log shorter than one, or an entry that differs from one: not ok."""
        own, unreadable = self.file.read()
        sources = [(str(self.file.path), own), *kept]
        found = [(source, c) for source, checkpoints in sources for c in checkpoints]
        anchors: dict[int, str] = {}
        for source, checkpoint in found:
            problem = None
            if not checkpoint.signature_ok(self.signer.public_key):
                problem = (
                    f"a checkpoint in {source} (size {checkpoint.size}) is not signed by this server's "
                    f"checkpoint key {self.key_id}"
                )
            elif anchors.setdefault(checkpoint.size, checkpoint.head_hash) != checkpoint.head_hash:
                problem = f"two checkpoints of size {checkpoint.size} name different entries (log forked)"
            if problem is not None:
                bad = VerifyReport(False, 0, checkpoint.size or 1, problem)
                names = tuple(s for s, _ in sources)
                return CheckpointReport(bad, len(found), names, checkpoint, unreadable)
        anchors.pop(0, None)  # an empty log: nothing to anchor (its head is the genesis hash)
        largest = max((c for _, c in found), key=lambda c: (c.size, c.timestamp), default=None)
        report = self.audit.verify(anchor, anchors=anchors)
        return CheckpointReport(report, len(found), tuple(s for s, _ in sources), largest, unreadable)
