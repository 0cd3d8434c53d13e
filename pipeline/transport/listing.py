"""Parsing ListObjectsV2 pages (requested with encoding-type=url)."""

from __future__ import annotations

import datetime
import urllib.parse
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pipeline.records import RemoteObject


@dataclass(frozen=True)
class ListPage:
    objects: list[RemoteObject]
    next_token: str | None  # None on the last page


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iso_time(text: str) -> float:
    """'2026-11-27T08:00:00.000Z' -> epoch seconds; 0.0 when there is none."""
    if not text:
        return 0.0
    try:
        parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.timestamp()


def http_time(text: str) -> float:
    """A Last-Modified header ('Fri, 27 Nov 2026 08:00:00 GMT') -> epoch seconds, or 0.0."""
    import email.utils

    try:
        return email.utils.parsedate_to_datetime(text).timestamp() if text else 0.0
    except (TypeError, ValueError):
        return 0.0


def parse_list_page(body: bytes) -> ListPage:
    """Objects and the continuation token of one ListObjectsV2 response."""
    root = ET.fromstring(body)
    objects = []
    truncated = False
    token = None
    url_encoded = False
    for child in root:
        name = _local(child.tag)
        if name == "EncodingType":
            url_encoded = (child.text or "").lower() == "url"
        elif name == "IsTruncated":
            truncated = (child.text or "").lower() == "true"
        elif name == "NextContinuationToken":
            token = child.text
    for contents in root:
        if _local(contents.tag) != "Contents":
            continue
        fields = {_local(field.tag): field.text or "" for field in contents}
        key = fields.get("Key", "")
        if url_encoded:
            key = urllib.parse.unquote_plus(key)
        objects.append(
            RemoteObject(
                key=key,
                size=int(fields.get("Size", "0")),
                etag=fields.get("ETag", "").strip('"'),
                mtime=iso_time(fields.get("LastModified", "")),
            )
        )
    return ListPage(objects=objects, next_token=token if truncated else None)
