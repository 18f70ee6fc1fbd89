"""S3's flexible checksums (``x-amz-checksum-crc32|crc32c|sha1|sha256``): base64 of the big-endian CRC or
of the digest, computed while the body streams, compared once it has all arrived."""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Final, Protocol

import crc32c as _crc32c

#: The algorithms verified; CRC64NVME (which needs AWS's CRT) is refused rather than accepted unchecked.
ALGORITHMS: Final = ("CRC32", "CRC32C", "SHA1", "SHA256")
HEADER_PREFIX: Final = "x-amz-checksum-"


class Checksum(Protocol):
    algorithm: str

    def update(self, data: bytes) -> None: ...

    def value(self) -> str:
        """The base64 form S3 sends in ``x-amz-checksum-*``."""
        ...


class _Crc:
    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._crc = 0

    def update(self, data: bytes) -> None:
        if self.algorithm == "CRC32":
            self._crc = zlib.crc32(data, self._crc)
        else:
            self._crc = _crc32c.crc32c(data, self._crc)

    def value(self) -> str:
        return base64.b64encode(self._crc.to_bytes(4, "big")).decode("ascii")


class _Digest:
    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm.lower())

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def value(self) -> str:
        return base64.b64encode(self._hash.digest()).decode("ascii")


def new(algorithm: str) -> Checksum:
    """A running checksum of ``algorithm`` (one of :data:`ALGORITHMS`, any case)."""
    name = algorithm.upper()
    if name not in ALGORITHMS:
        raise ValueError(f"unsupported checksum algorithm {algorithm!r}")
    return _Crc(name) if name.startswith("CRC") else _Digest(name)


def header_name(algorithm: str) -> str:
    return HEADER_PREFIX + algorithm.lower()


def algorithm_of_header(name: str) -> str | None:
    """``CRC32`` for ``x-amz-checksum-crc32``; ``None`` for other headers (``x-amz-checksum-type``...)."""
    if not name.lower().startswith(HEADER_PREFIX):
        return None
    candidate = name[len(HEADER_PREFIX) :].upper()
    return candidate if candidate in (*ALGORITHMS, "CRC64NVME") else None
