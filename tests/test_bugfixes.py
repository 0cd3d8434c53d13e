"""Regression tests for bugs a review found: each fails without its fix."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pipeline import progress
from pipeline.errors import UsageError
from pipeline.options import UploadConfig
from pipeline.records import Root
from pipeline.report.staging import stage_in
from pipeline.shards import shard_subtree, split_root
from pipeline.transport.boto import BotocoreControl
from pipeline.walk import WalkShardsFn
from tests.conftest import make_tree


def _stubbed_client() -> tuple[Any, Stubber]:
    """The botocore control plane, its client's answers stubbed."""
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    control = BotocoreControl(UploadConfig.for_bucket("reports", "http://127.0.0.1:9").target)
    control._client_made = client
    return control, Stubber(client)


def test_an_s3_report_that_cannot_be_read_stops_the_run(tmp_path: Path) -> None:
    client, stubber = _stubbed_client()
    stubber.add_client_error("get_object", "AccessDenied", http_status_code=403)
    local = tmp_path / "staged.jsonl"
    with stubber, pytest.raises(UsageError, match="cannot read the report"):
        stage_in("s3://reports/run.jsonl", str(local), client)
    assert not local.exists()  # nothing staged, so nothing is written back over it


def test_a_missing_s3_report_is_a_first_run(tmp_path: Path) -> None:
    client, stubber = _stubbed_client()
    stubber.add_client_error("get_object", "NoSuchKey", http_status_code=404)
    local = tmp_path / "staged.jsonl"
    with stubber:
        stage_in("s3://reports/run.jsonl", str(local), client)
    assert local.read_bytes() == b""


def test_files_settled_by_the_walk_count_as_found(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a", "b.txt": b"b"})
    os.symlink(tree / "nowhere", tree / "broken")  # skipped by the walk, yet finished
    config = UploadConfig.for_bucket("bkt", "http://127.0.0.1:9")
    bar = progress.Progress(io.StringIO())
    walk = WalkShardsFn(config.source, "", bar)
    walk.setup()
    root = Root(str(tree), str(tree))
    shards = [s for subtree in split_root(root, whole=True) for s in shard_subtree(subtree, "")]
    with bar:
        outputs = [out for shard in shards for out in walk.process(shard)]
        found = bar._found
    assert found == 3, outputs  # two files to upload and the broken link


def test_multipart_uploads_through_boto3_record_their_etag(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"big.bin": os.urandom(6 * 1024 * 1024)})
    report = tmp_path / "report.jsonl"
    result = run_cli(
        "--bucket", bucket, "--transport", "boto3", "--multipart-threshold", "5MiB",
        "--multipart-chunksize", "5MiB", "--report", str(report), str(tree),
    )  # fmt: skip
    assert result.code == 0, result.stderr
    (line,) = [json.loads(text) for text in report.read_text().splitlines()]
    stored = s3_client.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"')
    assert line["etag"] == stored and stored.endswith("-2")


def test_a_summary_that_cannot_be_read_is_not_a_usage_error(tmp_path: Path) -> None:
    from pipeline.run import _read_summary

    broken = tmp_path / "summary.json"
    broken.write_text("{not json")
    assert _read_summary(str(broken)) is None  # the counts come from the metrics instead
