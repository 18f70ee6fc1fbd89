"""ListObjectsV2 and ListObjects over an organisation's media objects, in UTF-8 byte order of their names
as S3 lists them: prefix, delimiter (common prefixes), max-keys, continuation token (an opaque encoding of
the last key or common prefix returned), start-after or marker, ``encoding-type=url``."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from urllib.parse import quote

from glasshouse.media.service import MediaInfo
from glasshouse.s3api.errors import S3Error
from glasshouse.s3api.xml import document, element, etag, iso

MAX_KEYS = 1000


def _token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode()


def _untoken(value: str) -> str:
    try:
        return base64.urlsafe_b64decode(value.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise S3Error(400, "InvalidArgument", "The continuation token provided is incorrect") from None


def _page(
    objects: Iterable[MediaInfo], prefix: str, delimiter: str, after: str, max_keys: int
) -> tuple[list[MediaInfo], list[str], str, bool]:
    """(objects, common prefixes, the last entry returned, whether more follow)."""
    ordered = sorted((o for o in objects if o.name.startswith(prefix)), key=lambda o: o.name.encode())
    contents: list[MediaInfo] = []
    prefixes: list[str] = []
    last, truncated, bound = "", False, after.encode()
    for info in ordered:
        if info.name.encode() <= bound:
            continue
        common = None
        if delimiter:
            cut = info.name.find(delimiter, len(prefix))
            if cut >= 0:
                common = info.name[: cut + len(delimiter)]
        # A common prefix at or before the bound was returned already, with every key under it.
        if common is not None and ((prefixes and prefixes[-1] == common) or common.encode() <= bound):
            continue
        if len(contents) + len(prefixes) >= max_keys:
            truncated = True
            break
        if common is not None:
            prefixes.append(common)
            last = common
        else:
            contents.append(info)
            last = info.name
    return contents, prefixes, last, truncated


def list_objects(objects: Iterable[MediaInfo], bucket: str, query: Mapping[str, str]) -> bytes:
    """The ``ListBucketResult`` document for ``query`` (V2 when ``list-type=2``, else V1)."""
    v2 = query.get("list-type") == "2"
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    max_text = query.get("max-keys", str(MAX_KEYS))
    if not max_text.isdigit():
        raise S3Error(400, "InvalidArgument", "Provided max-keys not an integer or within integer range")
    max_keys = min(int(max_text), MAX_KEYS)
    token = query.get("continuation-token")
    after = (_untoken(token) if token else query.get("start-after", "")) if v2 else query.get("marker", "")
    url = query.get("encoding-type") == "url"

    def enc(value: str) -> str:
        return quote(value, safe="/") if url else value

    contents, prefixes, last, truncated = _page(objects, prefix, delimiter, after, max_keys)
    parts = [element("Name", bucket), element("Prefix", enc(prefix))]
    if delimiter:
        parts.append(element("Delimiter", enc(delimiter)))
    parts += [element("MaxKeys", max_keys), element("IsTruncated", str(truncated).lower())]
    if url:
        parts.append(element("EncodingType", "url"))
    if v2:
        parts.append(element("KeyCount", len(contents) + len(prefixes)))
        if token:
            parts.append(element("ContinuationToken", token))
        if query.get("start-after"):
            parts.append(element("StartAfter", enc(query["start-after"])))
        if truncated:
            parts.append(element("NextContinuationToken", _token(last)))
    else:
        parts.append(element("Marker", enc(after)))
        if truncated and delimiter:
            parts.append(element("NextMarker", enc(last)))
    for info in contents:
        parts.append(
            "<Contents>"
            + element("Key", enc(info.name))
            + element("LastModified", iso(info.created_at))
            + element("ETag", etag(info.sha256))
            + element("Size", info.size)
            + element("StorageClass", "STANDARD")
            + "</Contents>"
        )
    parts += [f"<CommonPrefixes>{element('Prefix', enc(p))}</CommonPrefixes>" for p in prefixes]
    return document("ListBucketResult", "".join(parts))
