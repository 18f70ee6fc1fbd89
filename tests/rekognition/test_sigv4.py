"""SigV4 verification against botocore's own signer: what it signs passes; every kind of tampering fails."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from sqlalchemy import Engine

from glasshouse import db
from glasshouse.keys.crypto import SecretBox
from glasshouse.keys.service import KeyService
from glasshouse.organisations import service as organisations
from glasshouse.rekognition.sigv4 import (
    AMZ_DATE_FORMAT,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    SigV4Error,
    UnrecognizedClientException,
    verify,
)

KEY_ID = "GHTESTKEY00000000001"
SECRET = "s3cretS3cretS3cretS3cretS3cretS3cret0000"
BODY = b'{"Image": {"Bytes": "aGVsbG8="}, "Attributes": ["DEFAULT"]}'


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str


KEYS = {KEY_ID: Key(KEY_ID, SECRET)}


@dataclass
class Signed:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    @property
    def signed_at(self) -> datetime:
        return datetime.strptime(self.headers["X-Amz-Date"], AMZ_DATE_FORMAT).replace(tzinfo=UTC)

    def verify(self, lookup: Any = KEYS.get, now: datetime | None = None, **changes: Any) -> Any:
        fields = {"method": self.method, "path": self.path, "query": self.query, "headers": self.headers}
        fields["body"] = self.body
        fields.update(changes)
        return verify(**fields, lookup=lookup, now=self.signed_at if now is None else now)


def sign(
    *,
    region: str = "us-east-1",
    service: str = "rekognition",
    key_id: str = KEY_ID,
    secret: str = SECRET,
    url: str = "https://glasshouse.test:8443/",
    body: bytes = BODY,
    extra_headers: dict[str, str] | None = None,
) -> Signed:
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "RekognitionService.DetectFaces",
        **(extra_headers or {}),
    }
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    parts = urlsplit(url)
    sent = dict(request.headers.items())
    sent["Host"] = parts.netloc  # what the HTTP client puts on the wire, and what botocore signed
    return Signed("POST", parts.path, parts.query, sent, body)


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-2"])
def test_botocore_signed_request_verifies(region: str) -> None:
    signed = sign(region=region)
    assert f"/{region}/rekognition/aws4_request" in signed.headers["Authorization"]
    assert signed.verify() == KEYS[KEY_ID]


def test_header_names_are_case_insensitive_and_values_trimmed() -> None:
    signed = sign(extra_headers={"X-Custom": "  a   b  "})
    lowered = {k.lower(): v for k, v in signed.headers.items()}
    assert signed.verify(headers=lowered) == KEYS[KEY_ID]
    upper = {k.upper(): v for k, v in signed.headers.items()}
    upper["X-CUSTOM"] = "a b"  # trimmed / collapsed value is the canonical one
    assert signed.verify(headers=upper) == KEYS[KEY_ID]


def test_path_and_query_canonicalisation_matches_botocore() -> None:
    url = "https://glasshouse.test/some%20dir/./x/../y~z/?b=2&a=1&a=0&c=%2F%20&empty=&flag"
    signed = sign(url=url)
    assert signed.path == "/some%20dir/./x/../y~z/"
    assert signed.verify() == KEYS[KEY_ID]


def test_empty_body_and_declared_payload_hash() -> None:
    assert sign(body=b"").verify() == KEYS[KEY_ID]
    declared = sign(extra_headers={"X-Amz-Content-Sha256": hashlib.sha256(BODY).hexdigest()})
    assert declared.verify() == KEYS[KEY_ID]
    lying = sign(extra_headers={"X-Amz-Content-Sha256": hashlib.sha256(b"other").hexdigest()})
    with pytest.raises(InvalidSignatureException, match="x-amz-content-sha256"):
        lying.verify()
    unsigned = sign(extra_headers={"X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD"})
    with pytest.raises(InvalidSignatureException):
        unsigned.verify()


def test_real_boto3_client_request_verifies() -> None:
    """The exact bytes a boto3 Rekognition client sends (captured before they leave) verify."""
    captured: list[Any] = []

    class Captured(Exception):
        pass

    def capture(request: Any, **_: Any) -> None:
        captured.append(request)
        raise Captured

    client = boto3.client(
        "rekognition",
        endpoint_url="http://127.0.0.1:8000",
        region_name="eu-west-2",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(retries={"max_attempts": 0}),
    )
    client.meta.events.register("before-send.rekognition.*", capture)
    with pytest.raises(Captured):
        client.detect_faces(Image={"Bytes": b"\xff\xd8 not really a jpeg"})
    (request,) = captured
    parts = urlsplit(request.url)
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    headers["Host"] = parts.netloc
    amz_date = datetime.strptime(headers["X-Amz-Date"], AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    key = verify(
        method=request.method,
        path=parts.path or "/",
        query=parts.query,
        headers=headers,
        body=request.body,
        lookup=KEYS.get,
        now=amz_date + timedelta(seconds=2),
    )
    assert key.access_key_id == KEY_ID


def test_unknown_key() -> None:
    with pytest.raises(UnrecognizedClientException) as err:
        sign(key_id="GHNOSUCHKEY000000000").verify()
    assert err.value.message == "The security token included in the request is invalid."
    assert (err.value.code, err.value.http_status) == ("UnrecognizedClientException", 400)


def test_wrong_secret() -> None:
    with pytest.raises(InvalidSignatureException) as err:
        sign(secret="x" * 40).verify()
    assert err.value.message.startswith("The request signature we calculated does not match")
    assert "x" * 40 not in err.value.message and SECRET not in err.value.message


def test_body_changed_after_signing() -> None:
    signed = sign()
    with pytest.raises(InvalidSignatureException):
        signed.verify(body=BODY.replace(b"DEFAULT", b"ALL"))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Amz-Target", "RekognitionService.DeleteCollection"),
        ("Content-Type", "application/json"),
        ("Host", "elsewhere.test:8443"),
    ],
)
def test_signed_header_changed(name: str, value: str) -> None:
    signed = sign()
    with pytest.raises(InvalidSignatureException):
        signed.verify(headers={**signed.headers, name: value})


def test_path_or_query_changed() -> None:
    signed = sign(url="https://glasshouse.test/?a=1")
    with pytest.raises(InvalidSignatureException):
        signed.verify(query="a=2")
    with pytest.raises(InvalidSignatureException):
        signed.verify(path="/other")
    with pytest.raises(InvalidSignatureException):
        signed.verify(method="PUT")


def test_missing_authorization() -> None:
    signed = sign()
    headers = {k: v for k, v in signed.headers.items() if k != "Authorization"}
    with pytest.raises(MissingAuthenticationTokenException) as err:
        signed.verify(headers=headers)
    assert err.value.code == "MissingAuthenticationTokenException"
    with pytest.raises(MissingAuthenticationTokenException):
        signed.verify(headers={**headers, "Authorization": "  "})


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer abc",
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 Credential=GHTESTKEY00000000001/20260101/us-east-1/rekognition/aws4_request",
        "AWS4-HMAC-SHA256 Credential=GHTESTKEY00000000001/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=GHTESTKEY00000000001/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=GHTESTKEY00000000001/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=host;;x-amz-date, Signature=" + "0" * 64,
    ],
)
def test_malformed_authorization(authorization: str) -> None:
    signed = sign()
    with pytest.raises(IncompleteSignatureException) as err:
        signed.verify(headers={**signed.headers, "Authorization": authorization})
    assert err.value.code == "IncompleteSignatureException"


def test_missing_or_malformed_amz_date() -> None:
    signed = sign()
    headers = {k: v for k, v in signed.headers.items() if k != "X-Amz-Date"}
    with pytest.raises(IncompleteSignatureException):
        signed.verify(headers=headers)
    with pytest.raises(IncompleteSignatureException):
        signed.verify(headers={**headers, "X-Amz-Date": "2026-01-01T00:00:00Z"})


def test_wrong_service_in_scope() -> None:
    with pytest.raises(InvalidSignatureException, match="correct service: 'rekognition'"):
        sign(service="dynamodb").verify()


def test_wrong_terminator_in_scope() -> None:
    signed = sign()
    auth = signed.headers["Authorization"].replace("/aws4_request", "/aws5_request")
    with pytest.raises(InvalidSignatureException, match="terminator"):
        signed.verify(headers={**signed.headers, "Authorization": auth})


def test_scope_date_must_match_amz_date() -> None:
    signed = sign()
    next_day = (signed.signed_at + timedelta(days=1)).strftime(AMZ_DATE_FORMAT)
    with pytest.raises(InvalidSignatureException, match="Date in Credential scope does not match"):
        signed.verify(headers={**signed.headers, "X-Amz-Date": next_day}, now=signed.signed_at)


@pytest.mark.parametrize(
    ("offset", "ok"),
    [
        (timedelta(minutes=-14), True),
        (timedelta(minutes=14), True),
        (timedelta(minutes=20), False),  # server clock 20 min after the signature: expired
        (timedelta(minutes=-16), False),  # request dated 16 min in the server's future
    ],
)
def test_clock_skew_window(offset: timedelta, ok: bool) -> None:
    signed = sign()
    now = signed.signed_at + offset
    if ok:
        assert signed.verify(now=now) == KEYS[KEY_ID]
        return
    with pytest.raises(InvalidSignatureException) as err:
        signed.verify(now=now)
    amz = signed.headers["X-Amz-Date"]
    stamp = now.strftime(AMZ_DATE_FORMAT)
    if offset > timedelta(0):
        assert err.value.message.startswith(f"Signature expired: {amz} is now earlier than ")
        assert err.value.message.endswith(f"({stamp} - 15 min.)")
    else:
        assert err.value.message.startswith(f"Signature not yet current: {amz} is still later than ")
        assert err.value.message.endswith(f"({stamp} + 15 min.)")


def test_naive_now_is_utc() -> None:
    signed = sign()
    assert signed.verify(now=signed.signed_at.replace(tzinfo=None)) == KEYS[KEY_ID]


def test_multivalue_headers_from_items() -> None:
    """A multi-dict (as Starlette's Headers) yields repeated headers from items(); they are joined."""

    class MultiDict(dict[str, str]):
        def __init__(self, pairs: list[tuple[str, str]]) -> None:
            super().__init__(pairs)
            self._pairs = pairs

        def items(self) -> Any:
            return list(self._pairs)

    signed = sign(extra_headers={"X-Multi": "a,b"})
    pairs = [(k, v) for k, v in signed.headers.items() if k != "X-Multi"] + [
        ("x-multi", "a"),
        ("x-multi", "b"),
    ]
    assert signed.verify(headers=MultiDict(pairs)) == KEYS[KEY_ID]


def test_errors_are_typed_glasshouse_errors() -> None:
    for cls in (
        MissingAuthenticationTokenException,
        IncompleteSignatureException,
        UnrecognizedClientException,
        InvalidSignatureException,
    ):
        assert issubclass(cls, SigV4Error)
        assert cls.code == cls.__name__
        assert cls.http_status == 400


@pytest.fixture
def key_service(migrated_engine: Callable[[], Engine]) -> KeyService:
    return KeyService(db.make_sessionmaker(migrated_engine()), SecretBox(secrets.token_bytes(32)))


def test_issued_key_verifies_until_revoked(key_service: KeyService) -> None:
    with db.transaction(key_service._sessions) as session:
        org_id = organisations.get_or_create(session, "acme").id
    key_id, secret = key_service.create(org_id)
    signed = sign(key_id=key_id, secret=secret, region="eu-west-2")
    key = signed.verify(lookup=key_service.lookup)
    assert (key.access_key_id, key.org_id) == (key_id, org_id)

    key_service.revoke(org_id, key_id)
    with pytest.raises(UnrecognizedClientException):
        signed.verify(lookup=key_service.lookup)
