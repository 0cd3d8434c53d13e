"""Units: s3:// URIs."""

from __future__ import annotations

import pytest

from pipeline.s3uri import S3Uri, is_s3


@pytest.mark.parametrize(
    ("text", "bucket", "key", "folder"),
    [
        ("s3://b/some/key", "b", "some/key", "some/key/"),
        ("s3://b/some/prefix/", "b", "some/prefix/", "some/prefix/"),
        ("s3://b/", "b", "", ""),
        ("s3://b", "b", "", ""),
        ("s3://b/a b/ü", "b", "a b/ü", "a b/ü/"),
    ],
)
def test_parse(text: str, bucket: str, key: str, folder: str) -> None:
    uri = S3Uri.parse(text)
    assert (uri.bucket, uri.key, uri.folder) == (bucket, key, folder)
    assert tuple(uri) == (bucket, key)  # unpacks as (bucket, key)
    assert uri.path == f"{bucket}/{key}"
    assert str(uri) == f"s3://{bucket}/{key}"


def test_only_s3_uris_parse() -> None:
    assert is_s3("s3://b/k") and not is_s3("/tmp/s3://b") and not is_s3("gs://b/k")
    with pytest.raises(ValueError, match="not an s3:// URI"):
        S3Uri.parse("/data/file")
