"""Request bodies as S3 receives them, decoded and verified while they stream (never held whole):

- plain bodies whose ``x-amz-content-sha256`` is the payload's hash (checked at the end) or
  ``UNSIGNED-PAYLOAD``;
- ``aws-chunked`` bodies: ``STREAMING-AWS4-HMAC-SHA256-PAYLOAD`` (every chunk signed, each signature
  chained to the previous one and seeded by the request's), ``...-PAYLOAD-TRAILER`` (plus a signed
  trailer) and ``STREAMING-UNSIGNED-PAYLOAD-TRAILER`` (plain chunks, a checksum in the trailer);
- ``x-amz-checksum-*`` (header or trailer) and ``Content-MD5``, verified once every byte has arrived.

Any mismatch raises :class:`S3Error` from the iterator after the last chunk, so the store that consumes
it discards what it wrote and nothing is recorded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Final

from glasshouse.rekognition import sigv4
from glasshouse.s3api import checksums
from glasshouse.s3api.errors import S3Error, bad_digest

SIGNED_CHUNKS: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_CHUNKS_TRAILER: Final = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER: Final = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_MODES: Final = (SIGNED_CHUNKS, SIGNED_CHUNKS_TRAILER, UNSIGNED_TRAILER)
#: The largest aws-chunked chunk accepted (SDKs send 64 KiB to 8 MiB); one chunk is held at a time.
MAX_CHUNK: Final = 16 * 1024 * 1024
MAX_LINE: Final = 4096


def _malformed(message: str) -> S3Error:
    return S3Error(400, "IncompleteBody", message)


class _Buffered:
    """Lines and exact byte counts from an iterator of arbitrary chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buf = bytearray()

    def _fill(self) -> bool:
        for chunk in self._chunks:
            if chunk:
                self._buf += chunk
                return True
        return False

    def line(self) -> bytes:
        while (end := self._buf.find(b"\r\n")) < 0:
            if len(self._buf) > MAX_LINE or not self._fill():
                raise _malformed("The aws-chunked body ended inside a chunk header")
        out = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return out

    def exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            if not self._fill():
                raise _malformed("The aws-chunked body ended inside a chunk")
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def at_end(self) -> bool:
        return not self._buf and not self._fill()


@dataclass
class BodySpec:
    """How a request's body is encoded and what it promises, read from its headers."""

    mode: str  # a hex SHA-256, UNSIGNED-PAYLOAD or one of STREAMING_MODES
    decoded_length: int | None
    #: Algorithm -> value sent in a header; algorithm -> None when it comes in the trailer.
    checksums: dict[str, str | None] = field(default_factory=dict)
    content_md5: str | None = None
    trailer: tuple[str, ...] = ()

    @classmethod
    def of(cls, headers: Mapping[str, str]) -> BodySpec:
        mode = headers.get("x-amz-content-sha256", sigv4.UNSIGNED_PAYLOAD).strip()
        lowered = mode.lower()
        if len(lowered) == 64 and all(c in "0123456789abcdef" for c in lowered):
            mode = lowered
        elif mode not in (sigv4.UNSIGNED_PAYLOAD, *STREAMING_MODES):
            raise S3Error(
                400,
                "InvalidArgument",
                f"x-amz-content-sha256 must be a SHA-256 or a known mode, not {mode[:64]!r}",
            )
        decoded: int | None = None
        if mode in STREAMING_MODES:
            value = headers.get("x-amz-decoded-content-length")
            if value is None or not value.isdigit():
                raise S3Error(
                    411, "MissingContentLength", "You must provide the x-amz-decoded-content-length header."
                )
            decoded = int(value)
        sums: dict[str, str | None] = {}
        for name, value in headers.items():
            algorithm = checksums.algorithm_of_header(name)
            if algorithm is not None:
                sums[algorithm] = value.strip()
        trailer = tuple(t.strip().lower() for t in headers.get("x-amz-trailer", "").split(",") if t.strip())
        for name in trailer:
            algorithm = checksums.algorithm_of_header(name)
            if algorithm is None:
                raise S3Error(400, "InvalidRequest", f"Unsupported trailer {name[:64]!r}")
            sums[algorithm] = None
        if trailer and mode not in (SIGNED_CHUNKS_TRAILER, UNSIGNED_TRAILER):
            raise S3Error(400, "InvalidRequest", "x-amz-trailer needs a streaming trailer payload mode")
        for algorithm in sums:
            if algorithm not in checksums.ALGORITHMS:
                raise S3Error(400, "InvalidRequest", f"Checksum algorithm {algorithm} is not supported here")
        if len(sums) > 1:
            raise S3Error(400, "InvalidRequest", "Expecting a single x-amz-checksum- header.")
        return cls(mode, decoded, sums, headers.get("content-md5"), trailer)

    def checksum_value(self, algorithm: str, value: str | None) -> None:
        self.checksums[algorithm] = value


def decode(
    spec: BodySpec, raw: Iterable[bytes], verified: sigv4.Verified | None, trailers: dict[str, str]
) -> Iterator[bytes]:
    """The payload of a request body, verified as it streams; ``trailers`` receives the trailer's
    checksum headers (so the caller can echo the verified checksum)."""
    running = {a: checksums.new(a) for a in spec.checksums}
    md5 = hashlib.md5(usedforsecurity=False) if spec.content_md5 is not None else None
    sha = hashlib.sha256() if len(spec.mode) == 64 else None
    size = 0
    source = _chunks(spec, raw, verified, trailers) if spec.mode in STREAMING_MODES else raw
    for chunk in source:
        if not chunk:
            continue
        size += len(chunk)
        for c in running.values():
            c.update(chunk)
        if md5 is not None:
            md5.update(chunk)
        if sha is not None:
            sha.update(chunk)
        yield chunk
    if spec.decoded_length is not None and size != spec.decoded_length:
        raise _malformed(
            f"received {size} of the {spec.decoded_length} bytes x-amz-decoded-content-length announced"
        )
    if sha is not None and not hmac.compare_digest(sha.hexdigest(), spec.mode):
        raise S3Error(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    if md5 is not None:
        try:
            sent = base64.b64decode(spec.content_md5 or "", validate=True)
        except binascii.Error:
            raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.") from None
        if not hmac.compare_digest(sent, md5.digest()):
            raise bad_digest("Content-MD5")
    for algorithm, c in running.items():
        expected = spec.checksums[algorithm]
        if expected is None:
            expected = trailers.get(checksums.header_name(algorithm))
            if expected is None:
                raise S3Error(
                    400, "InvalidRequest", f"The trailer did not carry the {algorithm} checksum it announced."
                )
        if not hmac.compare_digest(expected.encode(), c.value().encode()):
            raise bad_digest(algorithm)
        spec.checksum_value(algorithm, expected)


def _chunk_signature(verified: sigv4.Verified, key: bytes, previous: str, data: bytes) -> str:
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            verified.amz_date,
            verified.auth.scope,
            previous,
            sigv4.EMPTY_SHA256,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _signature_mismatch() -> S3Error:
    return S3Error(403, "SignatureDoesNotMatch", sigv4.SIGNATURE_MISMATCH_MESSAGE)


def _chunks(
    spec: BodySpec, raw: Iterable[bytes], verified: sigv4.Verified | None, trailers: dict[str, str]
) -> Iterator[bytes]:
    signed = spec.mode in (SIGNED_CHUNKS, SIGNED_CHUNKS_TRAILER)
    if signed and verified is None:
        raise S3Error(400, "InvalidRequest", "Signed aws-chunked bodies need SigV4 header authentication")
    key = verified.signing_key() if verified is not None and signed else b""
    previous = verified.seed_signature if verified is not None else ""
    body = _Buffered(raw)
    while True:
        header = body.line().decode("latin-1")
        size_text, _, extension = header.partition(";")
        try:
            size = int(size_text.strip(), 16)
        except ValueError:
            raise _malformed("An aws-chunked chunk header does not start with a hex size") from None
        if not 0 <= size <= MAX_CHUNK:
            raise _malformed(f"aws-chunked chunks are limited to {MAX_CHUNK} bytes")
        data = body.exact(size)
        if signed:
            name, _, sent = extension.strip().partition("=")
            if name != "chunk-signature":
                raise _malformed("A signed aws-chunked chunk has no chunk-signature")
            assert verified is not None
            expected = _chunk_signature(verified, key, previous, data)
            if not hmac.compare_digest(expected.encode(), sent.strip().encode()):
                raise _signature_mismatch()
            previous = expected
        if size == 0:
            break
        if body.exact(2) != b"\r\n":
            raise _malformed("An aws-chunked chunk is not followed by CRLF")
        yield data
    if spec.mode == SIGNED_CHUNKS:
        if body.line() != b"" or not body.at_end():
            raise _malformed("Unexpected bytes after the final aws-chunked chunk")
        return
    _trailer(spec, body, verified, key, previous, signed, trailers)


def _trailer(
    spec: BodySpec,
    body: _Buffered,
    verified: sigv4.Verified | None,
    key: bytes,
    previous: str,
    signed: bool,
    trailers: dict[str, str],
) -> None:
    lines: list[tuple[str, str]] = []
    signature: str | None = None
    while line := body.line():
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise _malformed("A trailer line is not 'name:value'")
        name, value = name.strip().lower(), value.strip()
        if name == "x-amz-trailer-signature":
            signature = value
        elif name in spec.trailer:
            lines.append((name, value))
        else:
            raise _malformed(f"Trailer {name[:64]!r} was not announced in x-amz-trailer")
    if signed:
        assert verified is not None
        canonical = "".join(f"{n}:{v}\n" for n, v in lines)
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                verified.amz_date,
                verified.auth.scope,
                previous,
                hashlib.sha256(canonical.encode()).hexdigest(),
            ]
        )
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if signature is None or not hmac.compare_digest(expected.encode(), signature.encode()):
            raise _signature_mismatch()
    trailers.update(lines)
    if not body.at_end():
        raise _malformed("Unexpected bytes after the aws-chunked trailer")
