"""Rekognition's service model, read once and lazily from the installed botocore (no network).

The API serves exactly what this model describes, so the model shipped with the botocore that boto3
clients use is the one source of operation names and of every request and response constraint.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

import botocore.session

from glasshouse.errors import InvalidInputError

SERVICE_NAME = "rekognition"


class UnknownOperationError(InvalidInputError):
    """The ``X-Amz-Target`` names no Rekognition operation.

    AWS answers ``com.amazon.coral.service#UnknownOperationException`` (HTTP 400, null message);
    botocore keeps only the part after ``#``, which is the ``code`` here.
    """

    code = "UnknownOperationException"
    http_status: ClassVar[int] = 400


@cache
def service_model() -> Any:
    """botocore's ``ServiceModel`` for Rekognition."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


@cache
def operation_names() -> tuple[str, ...]:
    """Every operation in the model, sorted."""
    return tuple(sorted(service_model().operation_names))


@cache
def _known() -> frozenset[str]:
    return frozenset(operation_names())


def target_prefix() -> str:
    """The ``X-Amz-Target`` prefix (``RekognitionService``)."""
    return str(service_model().metadata["targetPrefix"])


@cache
def operation(name: str) -> Any:
    """botocore's ``OperationModel`` for ``name``; unknown names raise :class:`UnknownOperationError`."""
    if name not in _known():
        raise UnknownOperationError(f"Unknown operation: {name!r}")
    return service_model().operation_model(name)
