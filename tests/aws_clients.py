"""boto3 clients for end-to-end tests, with every response checked against botocore's output shapes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from glasshouse.rekognition.validation import validate_response

#: Every response any test client receives is checked against botocore's output shape here.
SHAPE_PROBLEMS: list[str] = []


def _check_shape(http_response: Any, parsed: dict[str, Any], model: Any, **_: Any) -> None:
    if "Error" in parsed:
        return
    # The raw body, not botocore's parse of it (which fills absent lists with []).
    problems = validate_response(model.name, json.loads(http_response.content or b"{}"))
    SHAPE_PROBLEMS.extend(f"{model.name}: {p}" for p in problems)


def make_client(url: str, key_id: str, secret: str, region: str = "eu-west-2") -> Any:
    """An unmodified boto3 client. Client-side parameter validation is off so that the server's own
    validation is what the tests exercise (other AWS SDKs do not validate at all)."""
    client = boto3.client(
        "rekognition",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, parameter_validation=False),
    )
    client.meta.events.register("after-call.rekognition", _check_shape)
    return client


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def raises(code: str, call: Callable[..., Any], **kwargs: Any) -> str:
    """Call a client method that must fail with the error ``code``; returns the error's message."""
    with pytest.raises(ClientError) as exc:
        call(**kwargs)
    assert code_of(exc) == code, exc.value.response
    return str(exc.value.response["Error"]["Message"])


def raw_post(
    url: str, key_id: str, secret: str, target: str, body: bytes, region: str = "eu-west-2"
) -> httpx.Response:
    """A SigV4-signed Rekognition request with any body, for what a client would never send."""
    request = AWSRequest(
        method="POST",
        url=url + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"RekognitionService.{target}",
        },
    )
    SigV4Auth(Credentials(key_id, secret), "rekognition", region).add_auth(request)
    return httpx.post(url + "/", content=body, headers=dict(request.headers.items()))
