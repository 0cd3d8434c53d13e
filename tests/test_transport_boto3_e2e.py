"""--transport boto3 does the same job as the default awscrt transport."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from devsupport.faultproxy import FaultProxy, FaultRules
from devsupport.locals3 import LocalS3
from tests.conftest import bucket_objects, make_tree

MIB = 1024 * 1024
TREE = {
    "index.html": b"<h1>hi</h1>",
    "a b/\u00e9t\u00e9.txt": b"summer",
    "big.bin": os.urandom(11 * MIB),
}


def test_boto3_transport_uploads_updates_and_sets_metadata(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    src = make_tree(tmp_path / "src", TREE)
    common = (
        "--bucket", bucket, "--transport", "boto3", "--json",
        "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB",
        "--header", "Cache-Control: max-age=5", "--header", "x-amz-meta-via: boto3",
    )  # fmt: skip

    first = run_cli(*common, str(src))
    again = run_cli(*common, str(src))

    assert first.code == 0, first.stderr
    assert bucket_objects(s3_client, bucket) == TREE
    assert s3_client.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"').endswith("-3")
    head = s3_client.head_object(Bucket=bucket, Key="index.html")
    assert head["ContentType"] == "text/html"
    assert head["CacheControl"] == "max-age=5"
    assert head["Metadata"] == {"via": "boto3"}
    assert again.code == 0, again.stderr
    assert again.summary["skipped"] == len(TREE)


def test_boto3_transport_resends_a_corrupted_body(
    run_cli: Any, s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    files = {f"f{i}.txt": os.urandom(500) for i in range(20)}
    src = make_tree(tmp_path / "src", files)
    rules = FaultRules(
        corrupt_request_body=1.0, max_faults=3, predicate=lambda m, t: t.count("/") >= 2
    )
    with FaultProxy(s3_server.port, rules, seed=3) as proxy:
        result = run_cli(
            "--bucket", bucket, "--transport", "boto3", "--json",
            "--endpoint-url", proxy.endpoint_url, str(src), endpoint=False,
        )  # fmt: skip

    assert result.code == 0, result.stderr
    assert result.summary["retries"] == 3
    assert bucket_objects(s3_client, bucket) == files
