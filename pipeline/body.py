"""What is sent for a file: its bytes as they are or gzipped, with headers and ETag.

The same ``BodySpec`` serves the put decision (whose ETag would the upload have?) and the
upload itself, so both always agree on the bytes.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pipeline import content, digests
from pipeline.options import BodyOptions
from pipeline.options.transport import MAX_PARTS
from pipeline.records import LocalFile


@dataclass(frozen=True)
class BodySpec:
    content_type: str
    gzip: bool

    @property
    def content_encoding(self) -> str | None:
        return "gzip" if self.gzip else None


def body_spec(file: LocalFile, options: BodyOptions) -> BodySpec:
    content_type = content.content_type_for(file.key, file, options.content_type)
    gz = options.gzip and content.should_gzip(content_type, options.gzip_types)
    return BodySpec(content_type=content_type, gzip=gz)


@dataclass(frozen=True)
class Body:
    """Exactly the bytes to PUT: in a file on disk, or in memory (a tar member)."""

    size: int
    path: str | None = None
    data: bytes | None = None

    def open(self) -> io.BufferedIOBase:
        if self.data is not None:
            return io.BytesIO(self.data)
        assert self.path is not None
        return open(self.path, "rb")


@contextmanager
def prepared_body(file: LocalFile, spec: BodySpec) -> Iterator[Body]:
    """The body to send; a gzipped file lives in a temporary file for the duration."""
    if file.data is not None:
        data = content.gzip_bytes(file.data) if spec.gzip else file.data
        yield Body(size=len(data), data=data)
        return
    if not spec.gzip:
        yield Body(size=file.size, path=file.path)
        return
    fd, tmp = tempfile.mkstemp(prefix="s3pp-", suffix=".gz")
    try:
        with open(file.path, "rb") as source, os.fdopen(fd, "wb") as target:
            content.gzip_stream(source, target)
        yield Body(size=os.path.getsize(tmp), path=tmp)
    finally:
        os.unlink(tmp)


def part_size_for(size: int, chunksize: int) -> int:
    """The part size used for a multipart upload of ``size`` bytes (at most 10,000 parts)."""
    return max(chunksize, -(-size // MAX_PARTS))


def etag_spec(size: int, threshold: int, chunksize: int) -> str:
    """The digest (see ``digests``) that is the ETag of ``size`` bytes uploaded as this
    tool does: one PUT up to ``threshold``, else parts of ``chunksize`` or more."""
    if size <= threshold:
        return digests.MD5
    return digests.multipart(part_size_for(size, chunksize))


def file_etag(body: Body, threshold: int, chunksize: int) -> str:
    """The ETag S3 gives ``body`` when uploaded as this tool does: MD5, or multipart MD5."""
    spec = etag_spec(body.size, threshold, chunksize)
    with body.open() as f:
        return digests.compute(f, [spec])[spec]


def body_digests(file: LocalFile, spec: BodySpec, specs: Sequence[str]) -> dict[str, str]:
    """The digests (see ``digests``) of the body that uploading ``file`` with ``spec``
    sends, in one read."""
    with prepared_body(file, spec) as body, body.open() as f:
        return digests.compute(f, specs)
