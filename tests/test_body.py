"""Units: bytes to send: gzip, content types, ETags, metadata headers."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import pytest

from pipeline.body import Body, file_etag
from pipeline.content import guess_content_type, gzip_bytes, should_gzip
from pipeline.errors import UsageError


def test_gzip_is_deterministic_and_round_trips() -> None:
    data = b"hello world\n" * 1000
    first, second = gzip_bytes(data), gzip_bytes(data)
    assert first == second
    assert gzip.decompress(first) == data
    assert first[4:8] == b"\0\0\0\0", "the gzip header's mtime must be zero"
    assert gzip.GzipFile(fileobj=io.BytesIO(first)).name == ""


def test_content_types_and_gzip_selection() -> None:
    assert guess_content_type("a/index.html") == "text/html"
    assert guess_content_type("x.unknownext") == "application/octet-stream"
    assert should_gzip("text/css", ())
    assert should_gzip("image/svg+xml", ())
    assert not should_gzip("image/png", ())
    assert should_gzip("image/png", ("all",))
    assert should_gzip("text/csv", ("text/*",))
    assert not should_gzip("text/html", ("application/json",))


def test_file_etag_single_and_multipart(tmp_path: Path) -> None:
    data = bytes(range(256)) * 4096 * 11  # 11 MiB
    path = tmp_path / "f"
    path.write_bytes(data)
    mib = 1024 * 1024
    body = Body(size=len(data), path=str(path))
    assert file_etag(body, 16 * mib, 5 * mib) == hashlib.md5(data).hexdigest()
    assert file_etag(Body(size=len(data), data=data), 16 * mib, 5 * mib) == file_etag(
        body, 16 * mib, 5 * mib
    )
    parts = [data[i : i + 5 * mib] for i in range(0, len(data), 5 * mib)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert file_etag(body, 8 * mib, 5 * mib) == f"{expected}-3"


def test_metadata_headers() -> None:
    from pipeline.metadata import metadata_headers

    assert metadata_headers(
        ["Cache-Control: max-age=60", "x-amz-meta-a: b"], "public-read", "GLACIER", "aws:kms", "k1"
    ) == (
        ("Cache-Control", "max-age=60"),
        ("x-amz-meta-a", "b"),
        ("x-amz-acl", "public-read"),
        ("x-amz-storage-class", "GLACIER"),
        ("x-amz-server-side-encryption", "aws:kms"),
        ("x-amz-server-side-encryption-aws-kms-key-id", "k1"),
    )
    with pytest.raises(UsageError, match="more than once"):
        metadata_headers(["Expires: a", "expires: b"], None, None, None, None)
    with pytest.raises(UsageError, match="needs --sse aws:kms"):
        metadata_headers([], None, None, "AES256", "k1")
