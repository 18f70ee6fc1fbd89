"""aws-chunked bodies against AWS's own worked example (the "Signature Calculations for the Authorization
Header: Transferring Payload in Multiple Chunks" page: 66,560 bytes of 'a' in chunks of 64 KiB and 1 KiB),
and every kind of tampering."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from glasshouse.rekognition import sigv4
from glasshouse.s3api.body import BodySpec, decode
from glasshouse.s3api.errors import S3Error

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
HEADERS = {
    "host": "s3.amazonaws.com",
    "x-amz-date": "20130524T000000Z",
    "x-amz-storage-class": "REDUCED_REDUNDANCY",
    "authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    f"x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}",
    "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "content-encoding": "aws-chunked",
    "x-amz-decoded-content-length": "66560",
    "content-length": "66824",
}


@dataclass
class Key:
    secret: str = field(default=SECRET, repr=False)


def _verified() -> sigv4.Verified:
    return sigv4.authenticate(
        method="PUT",
        path="/examplebucket/chunkObject.txt",
        query="",
        headers=HEADERS,
        payload_hash=lambda h: h["x-amz-content-sha256"][0],
        lookup=lambda _: Key(),
        now=datetime(2013, 5, 24, 0, 5, tzinfo=UTC),
        service="s3",
        normalise_path=False,
    )


def _body(signatures: tuple[str, ...] = CHUNK_SIGNATURES, second: bytes = b"a" * 1024) -> bytes:
    first = b"a" * 65536
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + first
        + b"\r\n"
        + f"400;chunk-signature={signatures[1]}\r\n".encode()
        + second
        + b"\r\n"
        + f"0;chunk-signature={signatures[2]}\r\n\r\n".encode()
    )


def _decode(body: bytes, piece: int = 1000) -> bytes:
    spec = BodySpec.of(HEADERS)
    raw = (body[i : i + piece] for i in range(0, len(body), piece))
    return b"".join(decode(spec, raw, _verified(), {}))


def test_the_seed_signature_of_awss_example_verifies() -> None:
    assert _verified().seed_signature == SEED


@pytest.mark.parametrize("piece", [7, 1000, 4099, 70000])
def test_awss_example_decodes_to_its_payload_however_the_bytes_arrive(piece: int) -> None:
    body = _body()
    assert len(body) == 66824  # the example's Content-Length
    assert _decode(body, piece) == b"a" * 66560


@pytest.mark.parametrize(
    "body",
    [
        _body(second=b"a" * 1023 + b"b"),  # a byte changed
        _body((CHUNK_SIGNATURES[1], CHUNK_SIGNATURES[0], CHUNK_SIGNATURES[2])),  # chunks reordered
        _body((*CHUNK_SIGNATURES[:2], "0" * 64)),  # final chunk's signature forged
    ],
)
def test_a_tampered_chunk_fails_the_signature(body: bytes) -> None:
    with pytest.raises(S3Error) as exc:
        _decode(body)
    assert exc.value.code == "SignatureDoesNotMatch" and exc.value.status == 403


def test_a_truncated_body_is_incomplete() -> None:
    with pytest.raises(S3Error) as exc:
        _decode(_body()[:-40])
    assert exc.value.code == "IncompleteBody"
