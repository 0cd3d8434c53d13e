"""Object metadata from the command line, validated into request headers.

``--header 'Name: value'``, ``--grant``, ``--storage-class`` and ``--sse`` all become
headers of every PUT (and of CreateMultipartUpload for large files).
"""

from __future__ import annotations

import re

from pipeline.errors import UsageError

CANNED_ACLS = (
    "private",
    "public-read",
    "public-read-write",
    "authenticated-read",
    "aws-exec-read",
    "bucket-owner-read",
    "bucket-owner-full-control",
)
STORAGE_CLASSES = (
    "STANDARD",
    "REDUCED_REDUNDANCY",
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER",
    "DEEP_ARCHIVE",
    "GLACIER_IR",
    "EXPRESS_ONEZONE",
)
SSE_MODES = ("AES256", "aws:kms")

# Headers a user may set with --header; others are the tool's to set.
_ALLOWED = {"cache-control", "content-disposition", "content-language", "expires"}
_OWN = {
    "content-type": "--content-type",
    "content-encoding": "--gzip",
    "x-amz-acl": "--grant",
    "x-amz-storage-class": "--storage-class",
    "x-amz-server-side-encryption": "--sse",
}
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_VALUE = re.compile(r"^[\t\x20-\x7e]*$")


def parse_header(text: str) -> tuple[str, str]:
    """'Cache-Control: max-age=60' -> ('Cache-Control', 'max-age=60'), or UsageError."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name:
        raise UsageError(f"--header {text!r}: expected 'Name: value'")
    if not _TOKEN.match(name):
        raise UsageError(f"--header {text!r}: {name!r} is not a valid header name")
    if not _VALUE.match(value):
        raise UsageError(f"--header {text!r}: the value must be printable ASCII on one line")
    lower = name.lower()
    if lower in _OWN:
        raise UsageError(f"--header {name}: use {_OWN[lower]} for this header")
    if lower not in _ALLOWED and not lower.startswith("x-amz-meta-"):
        allowed = ", ".join(sorted(_ALLOWED))
        raise UsageError(f"--header {name}: not allowed; use {allowed} or x-amz-meta-*")
    return name, value


def metadata_headers(
    headers: list[str],
    grant: str | None,
    storage_class: str | None,
    sse: str | None,
    sse_kms_key_id: str | None,
) -> tuple[tuple[str, str], ...]:
    """All metadata options as (name, value) headers, in a stable order."""
    result = [parse_header(text) for text in headers]
    names = [name.lower() for name, _ in result]
    duplicates = {name for name in names if names.count(name) > 1}
    if duplicates:
        raise UsageError(f"--header {sorted(duplicates)[0]} is given more than once")
    if grant is not None:
        result.append(("x-amz-acl", grant))
    if storage_class is not None:
        result.append(("x-amz-storage-class", storage_class))
    if sse_kms_key_id is not None and sse != "aws:kms":
        raise UsageError("--sse-kms-key-id needs --sse aws:kms")
    if sse is not None:
        result.append(("x-amz-server-side-encryption", sse))
    if sse_kms_key_id is not None:
        result.append(("x-amz-server-side-encryption-aws-kms-key-id", sse_kms_key_id))
    return tuple(result)
