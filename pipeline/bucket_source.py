"""Walking a source bucket (--walk s3) for server-side copies (--put copy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import botocore.exceptions

from pipeline.errors import UsageError
from pipeline.filters import FileFilter
from pipeline.naming import join_prefix
from pipeline.records import Action, FileResult, LocalFile
from pipeline.source import Root


def split_s3_uri(uri: str) -> tuple[str, str]:
    """'s3://bucket/some/prefix' -> ('bucket', 'some/prefix/'); a prefix names a folder."""
    if not uri.startswith("s3://"):
        raise UsageError(f"SOURCE {uri!r}: --walk s3 takes s3://bucket[/prefix]")
    bucket, _, prefix = uri[5:].partition("/")
    if len(bucket) < 3:
        raise UsageError(f"SOURCE {uri!r}: no bucket name")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return bucket, prefix


def resolve_buckets(sources: tuple[str, ...]) -> tuple[Root, ...]:
    for uri in sources:
        split_s3_uri(uri)
    return tuple(Root(path=uri, base="") for uri in sources)


def walk_bucket(
    client: Any, uri: str, prefix: str, selected: FileFilter
) -> Iterator[LocalFile | FileResult]:
    """Every object under ``uri`` as a LocalFile whose path is its s3:// URI."""
    bucket, source_prefix = split_s3_uri(uri)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=source_prefix)
    try:
        for page in pages:
            for obj in page.get("Contents", []):
                relative = obj["Key"][len(source_prefix) :]
                if not relative or relative.endswith("/"):
                    continue  # the folder itself, or a folder marker
                mtime = obj["LastModified"].timestamp()
                if selected.active and not selected.selects(relative, mtime):
                    continue
                yield LocalFile(
                    path=f"s3://{bucket}/{obj['Key']}",
                    key=join_prefix(prefix, relative),
                    size=obj["Size"],
                    mtime=mtime,
                    etag=obj["ETag"].strip('"'),
                )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as e:
        yield FileResult(
            path=uri, key=prefix, action=Action.FAILED, error=f"cannot list the source: {e}"
        )
