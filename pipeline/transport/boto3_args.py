"""The boto3 arguments of a write: a PUT's metadata headers as PutObject's (and
s3transfer's ``extra_args``) named arguments, and a conditional write's condition."""

from __future__ import annotations

from typing import Any

from pipeline.records import Precondition
from pipeline.transport.base import PutRequest

_ARGUMENT_OF_HEADER = {
    "cache-control": "CacheControl",
    "content-disposition": "ContentDisposition",
    "content-language": "ContentLanguage",
    "expires": "Expires",
    "x-amz-acl": "ACL",
    "x-amz-storage-class": "StorageClass",
    "x-amz-server-side-encryption": "ServerSideEncryption",
    "x-amz-server-side-encryption-aws-kms-key-id": "SSEKMSKeyId",
}


def extra_args(request: PutRequest, headers: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """boto3 arguments for the metadata of a PUT."""
    args: dict[str, Any] = {"ContentType": request.content_type, "ChecksumAlgorithm": "CRC32"}
    if request.content_encoding:
        args["ContentEncoding"] = request.content_encoding
    if request.tagging:  # s3transfer sends it with CreateMultipartUpload
        args["Tagging"] = request.tagging
    metadata = {}
    for name, value in headers:
        lower = name.lower()
        if lower.startswith("x-amz-meta-"):
            metadata[lower.removeprefix("x-amz-meta-")] = value
        else:
            args[_ARGUMENT_OF_HEADER[lower]] = value
    if metadata:
        args["Metadata"] = metadata
    return args


def condition_args(precondition: Precondition | None) -> dict[str, str]:
    """boto3 arguments of a conditional write: IfMatch or IfNoneMatch."""
    if precondition is None:
        return {}
    name, value = precondition.header()
    return {name.replace("-", ""): value}
