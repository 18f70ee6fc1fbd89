"""``POST /v1/testing/runs``: the independent testing API (Washington SB 6280 §5).

A multipart upload of ``pairs`` (CSV: ``path_a,path_b,same[,subgroup]`` or deepface's ``file_x,file_y,same``)
and ``images`` (a ZIP holding the images the paths name), with an optional ``subgroup_column``; the answer is
the JSON report of :meth:`glasshouse.testing.service.TestingService.run`, DET plot included (base64 PNG).
Gated as ``testing.run`` (403 where the policy denies it, e.g. under the moratorium on police face
comparison); pair lists that could serve as a comparison oracle are refused (400 ``OracleRefused``, see the
service's docstring); rate-limited per organisation (429 with ``Retry-After``) and audited.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from glasshouse.errors import InvalidInputError
from glasshouse.governance.policy import Capability
from glasshouse.http.body_limit import FORM_SLACK, body_limit
from glasshouse.rest.auth import CurrentActor, HeadersFirstRoute, Svc
from glasshouse.testing.service import MAX_CSV_BYTES, RateLimited

router = APIRouter(prefix="/v1/testing", tags=["testing"], route_class=HeadersFirstRoute)

#: Multipart overhead allowed above the two files' limits.
_FORM_SLACK = 64 * 1024
_BODY: dict[str, Any] = {
    "x-glasshouse-capability": Capability.TESTING_RUN.value,
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["pairs", "images"],
                    "properties": {
                        "pairs": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV: path_a,path_b,same[,subgroup] (or file_x,file_y,same); "
                            "paths are names inside the ZIP; same is 1/0 or true/false.",
                        },
                        "images": {
                            "type": "string",
                            "format": "binary",
                            "description": "ZIP of the JPEG/PNG images the CSV names.",
                        },
                        "subgroup_column": {
                            "type": "string",
                            "description": "CSV column naming each pair's subgroup [default: 'subgroup' "
                            "when present].",
                        },
                    },
                }
            }
        },
    },
    "responses": {
        "400": {
            "description": "Bad CSV, ZIP or image; too many or too few pairs or images; a subgroup under "
            "the minimum or a repeated image pair (OracleRefused)."
        },
        "403": {"description": "The policy denies testing.run to the caller's organisation."},
        "413": {"description": "The upload exceeds the configured limit."},
        "429": {"description": "The organisation's testing runs for the rolling hour are used up."},
    },
}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


async def _file(form: Any, field: str, what: str, limit: int) -> bytes:
    upload = form.get(field)
    if not isinstance(upload, UploadFile):
        raise InvalidInputError(
            f"send multipart/form-data with files 'pairs' (the CSV) and 'images' (the ZIP); '{field}' "
            f"({what}) is missing"
        )
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise InvalidInputError(f"{what} is larger than {limit} bytes")
    return data


@router.post("/runs", openapi_extra=_BODY, response_model=None)
@body_limit(lambda s: s.testing_max_upload_bytes + MAX_CSV_BYTES + FORM_SLACK)
async def create_run(request: Request, svc: Svc, actor: CurrentActor) -> dict[str, Any] | JSONResponse:
    """Measure the engine on your own labelled pairs: accuracy, false-match and false-non-match rates at
    similarity 80 and 99, per subgroup, images without a face, and a DET plot."""
    zip_limit = svc.settings.testing_max_upload_bytes
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > zip_limit + MAX_CSV_BYTES + _FORM_SLACK:
        return _error(413, "PayloadTooLarge", f"the upload is {length} bytes; the ZIP may hold {zip_limit}")
    try:
        await run_in_threadpool(svc.testing.check_admissible, actor)  # before reading a large upload
        async with request.form(max_files=2, max_fields=4) as form:
            csv_data = await _file(form, "pairs", "the pairs CSV", MAX_CSV_BYTES)
            zip_data = await _file(form, "images", "the images ZIP", zip_limit)
            column = form.get("subgroup_column")
        subgroup_column = column.strip() or None if isinstance(column, str) else None
        images = await run_in_threadpool(svc.testing.zip_images, zip_data)
        return await run_in_threadpool(
            lambda: svc.testing.run(actor, csv_data, images, subgroup_column=subgroup_column)
        )
    except RateLimited as exc:
        return _error(429, exc.code, exc.message, {"Retry-After": str(exc.retry_after_s)})
