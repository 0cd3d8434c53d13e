"""End to end: --tag sets object tags on PUTs, multipart uploads and server-side copies,
on both transports, asserted with GetObjectTagging on the real server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import bucket_objects, make_tree

MIB = 1024 * 1024
TAGS = {
    "team": "blue sky",
    "caf\u00e9": "th\u00e9 = 1+1",  # Unicode, and what a query string must escape
    "path": "a/b:c@d_e.f-g",
    "empty": "",
    "k" * 128: "v" * 256,  # the longest key and value S3 takes
}
TAG_ARGS = [arg for key, value in TAGS.items() for arg in ("--tag", f"{key}={value}")]
MULTIPART = ("--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB")


def _tags(client: Any, bucket: str, key: str) -> dict[str, str]:
    tag_set = client.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]
    return {tag["Key"]: tag["Value"] for tag in tag_set}


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_tags_are_set_on_single_and_multipart_uploads(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, transport: str
) -> None:
    files = {"small.txt": b"hello", "dir/big.bin": os.urandom(11 * MIB)}
    src = make_tree(tmp_path / "src", files)

    result = run_cli("--bucket", bucket, "--transport", transport, *MULTIPART, *TAG_ARGS, str(src))

    assert result.code == 0, result.stderr
    assert bucket_objects(s3_client, bucket) == files
    big = s3_client.head_object(Bucket=bucket, Key="dir/big.bin")
    assert big["ETag"].strip('"').endswith("-3"), "uploaded in parts"
    assert _tags(s3_client, bucket, "small.txt") == TAGS
    assert _tags(s3_client, bucket, "dir/big.bin") == TAGS, "CreateMultipartUpload has them"


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_a_copy_with_tags_replaces_the_source_s_tags_and_keeps_its_metadata(
    run_cli: Any, s3_client: Any, bucket: str, transport: str
) -> None:
    source = f"{bucket}-src"
    s3_client.create_bucket(Bucket=source)
    objects = {"data/a.txt": b"a", "data/sub/b 1.bin": b"\0\1"}
    for key, body in objects.items():
        s3_client.put_object(
            Bucket=source, Key=key, Body=body, ContentType="x/custom", Metadata={"m": "1"},
            Tagging="origin=source",
        )  # fmt: skip
    copy = ("--bucket", bucket, "--transport", transport, "--walk", "s3", "--put", "copy")
    try:
        tagged = run_cli(*copy, "--prefix", "tagged", *TAG_ARGS, f"s3://{source}/data")
        kept = run_cli(*copy, "--prefix", "kept", f"s3://{source}/data")
    finally:
        for key in objects:
            s3_client.delete_object(Bucket=source, Key=key)
        s3_client.delete_bucket(Bucket=source)

    assert tagged.code == 0, tagged.stderr
    assert kept.code == 0, kept.stderr
    for name in ("a.txt", "sub/b 1.bin"):
        assert _tags(s3_client, bucket, f"tagged/{name}") == TAGS
        assert _tags(s3_client, bucket, f"kept/{name}") == {"origin": "source"}
        head = s3_client.head_object(Bucket=bucket, Key=f"tagged/{name}")
        assert (head["ContentType"], head["Metadata"]) == ("x/custom", {"m": "1"})


def test_update_does_not_compare_tags_and_stupid_sets_them_again(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})

    first = run_cli("--bucket", bucket, "--json", "--tag", "v=1", str(src))
    update = run_cli("--bucket", bucket, "--json", "--tag", "v=2", str(src))
    after_update = _tags(s3_client, bucket, "a.txt")
    stupid = run_cli("--bucket", bucket, "--json", "--put", "stupid", "--tag", "v=2", str(src))

    assert first.code == update.code == stupid.code == 0, update.stderr + stupid.stderr
    assert update.summary["skipped"] == 1, "the bytes are unchanged: tags are not compared"
    assert after_update == {"v": "1"}
    assert stupid.summary["uploaded"] == 1
    assert _tags(s3_client, bucket, "a.txt") == {"v": "2"}


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        (["novalue"], "expected KEY=VALUE"),
        (["k" * 129 + "=v"], "a key must be 1 to 128 characters"),
        (["k=" + "v" * 257], "a value must be at most 256 characters"),
        (["k=1", "k=2"], "the key is given more than once"),
        ([f"k{i}=v" for i in range(11)], "an object has at most 10"),
        (["k=a & b"], "'&' is not allowed"),
    ],
)
def test_bad_tags_are_usage_errors(
    run_main_on_server: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    tags: list[str],
    words: str,
) -> None:
    src = make_tree(tmp_path / "src", {"a.txt": b"a"})

    result = run_main_on_server("--bucket", bucket, *[f"--tag={tag}" for tag in tags], str(src))

    assert result.code == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert bucket_objects(s3_client, bucket) == {}
