"""Byte stores for media objects: local files or S3. Writes are atomic: an upload that fails or is cut off
part-way leaves nothing under its key (a temporary file renamed into place; an S3 multipart upload that is
completed only at the end, aborted otherwise).

Store keys are chosen by :class:`glasshouse.media.service.MediaService` (``<org id>/<random id>``), never
taken from a caller; they are still validated here, so no key can name a path outside the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast

from glasshouse.config import Settings
from glasshouse.errors import InvalidParameterError, NotFoundError

#: Segments of letters, digits, ``._-`` starting with a letter or digit (so never ``.`` or ``..``),
#: joined by single slashes: no absolute path, no empty segment, no backslash.
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,127}(/[A-Za-z0-9][A-Za-z0-9._\-]{0,127}){0,7}")
MAX_KEY_LENGTH = 512
#: Bytes read from a stored object per chunk when streaming it out.
READ_CHUNK = 1024 * 1024
#: S3 multipart part size (S3's minimum for every part but the last is 5 MiB).
S3_PART_SIZE = 8 * 1024 * 1024


class MediaStore(Protocol):
    """Where media bytes live. Keys come from :func:`check_key`'s character set."""

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        """Store ``chunks`` under ``key`` atomically; returns (size in bytes, SHA-256 hex).

        If iterating ``chunks`` raises, nothing is left under ``key`` (nor a temporary) and the error
        propagates."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored bytes as a readable binary stream (close it); :class:`NotFoundError` if absent."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def size(self, key: str) -> int:
        """Stored size in bytes; :class:`NotFoundError` if absent."""
        ...


def check_key(key: str) -> str:
    """``key`` if it is a safe relative store key, else :class:`InvalidParameterError`."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise InvalidParameterError(
            "a media store key is 1-8 '/'-separated segments of letters, digits, '.', '_' and '-', "
            "each starting with a letter or digit"
        )
    return key


class LocalMediaStore:
    """Files under ``root``; uploads are written to ``root/.tmp`` and renamed into place (same filesystem,
    so the rename is atomic). ``.tmp`` cannot collide with a key: segments never start with a dot."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._tmp = self.root / ".tmp"

    def __repr__(self) -> str:
        return f"LocalMediaStore({str(self.root)!r})"

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root) or path == self.root:  # symlinks planted inside the root
            raise InvalidParameterError("media store key resolves outside the store")
        return path

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        final = self._path(key)
        self._tmp.mkdir(parents=True, exist_ok=True)
        temp = self._tmp / f"{uuid.uuid4().hex}.part"
        digest, size = hashlib.sha256(), 0
        try:
            with temp.open("xb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, final)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except (FileNotFoundError, IsADirectoryError):
            raise NotFoundError("media object not found in the store") from None

    def delete(self, key: str) -> None:
        # Empty parent folders stay: removing them would race with a concurrent upload's rename.
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        path = self._path(key)
        if not path.is_file():
            raise NotFoundError("media object not found in the store")
        return path.stat().st_size


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw stream, so :class:`io.BufferedReader` can wrap it."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data: bytes = self._body.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _is_missing(exc: Exception) -> bool:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {})
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return bool(error.get("Code") in ("404", "NoSuchKey", "NotFound") or status == 404)


class S3MediaStore:
    """Objects in one S3 bucket (AWS, MinIO, Ceph...). Credentials come from boto3's usual chain
    (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), never from settings.

    Uploads are multipart (parts of :data:`S3_PART_SIZE`): S3 shows an object only once its multipart
    upload is completed, and an upload that fails is aborted, so a partial object never appears under its
    key. Objects smaller than one part go up in one ``PutObject``, which is atomic too.
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        *,
        part_size: int = S3_PART_SIZE,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        self.bucket = bucket
        self.client = client
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"S3MediaStore(bucket={self.bucket!r})"

    def put_stream(self, key: str, chunks: Iterable[bytes]) -> tuple[int, str]:
        check_key(key)
        digest, size = hashlib.sha256(), 0
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                buffer += chunk
                while len(buffer) >= self.part_size:
                    if upload_id is None:
                        created = self.client.create_multipart_upload(Bucket=self.bucket, Key=key)
                        upload_id = str(created["UploadId"])
                    part, buffer = bytes(buffer[: self.part_size]), buffer[self.part_size :]
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, part))
            if upload_id is None:
                self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer))
            else:
                if buffer:
                    parts.append(self._upload_part(key, upload_id, len(parts) + 1, bytes(buffer)))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                )
        except BaseException:
            if upload_id is not None:
                with contextlib.suppress(Exception):  # the original error matters more
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        return size, digest.hexdigest()

    def _upload_part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        answer = self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"ETag": answer["ETag"], "PartNumber": number}

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                raise NotFoundError("media object not found in the store") from None
            raise
        return cast(BinaryIO, io.BufferedReader(_BodyReader(answer["Body"]), buffer_size=READ_CHUNK))

    def delete(self, key: str) -> None:
        check_key(key)
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def _head(self, key: str) -> dict[str, Any] | None:
        check_key(key)
        try:
            answer: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise
        return answer

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise NotFoundError("media object not found in the store")
        return int(head["ContentLength"])


def store_from_settings(settings: Settings) -> MediaStore:
    """The store ``settings.media_backend`` names."""
    if settings.media_backend == "s3":
        if not settings.s3_bucket:
            raise InvalidParameterError("GLASSHOUSE_S3_BUCKET must be set when GLASSHOUSE_MEDIA_BACKEND=s3")
        return S3MediaStore(settings.s3_bucket, settings.s3_endpoint_url, settings.s3_region)
    return LocalMediaStore(settings.media_path)
