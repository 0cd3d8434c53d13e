"""Conditional writes against SeaweedFS with the real CLI: an object that another writer
creates or changes between the decision and the write is never overwritten, with either
transport, for single PUTs and for multipart uploads (whose condition goes with
CompleteMultipartUpload).

The other writer acts in a proxy between the tool and the server: when the proxy sees
the tool's PUT of a raced key, or the CompleteMultipartUpload of a raced multipart
upload, it first stores the other writer's bytes under that key directly on the server,
then forwards the tool's request.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FaultProxy, FaultRules
from devsupport.locals3 import LocalS3
from tests.conftest import CliResult, bucket_objects, make_tree

MIB = 1024 * 1024
SMALL = b"ours, small"
BIG = os.urandom(11 * MIB)  # three parts of 5 MiB
OTHER = b"the other writer's"
TRANSPORTS = [pytest.param((), id="crt"), pytest.param(("--transport", "boto3"), id="boto3")]


@pytest.fixture
def proxy(s3_server: LocalS3) -> Iterator[FaultProxy]:
    with FaultProxy(s3_server.port) as running:
        yield running


def _other_writer(client: Any, bucket: str, raced: set[str]) -> Callable[[str, str], None]:
    """A proxy hook: before the tool's PUT of a raced key (or the completion of its
    multipart upload) is forwarded, the other writer stores its bytes there, once."""
    lock, done = threading.Lock(), set()

    def before_forward(method: str, target: str) -> None:
        path, _, query = target.partition("?")
        key = path.removeprefix(f"/{bucket}/")
        single_put = method == "PUT" and "uploadId=" not in query
        completion = method == "POST" and "uploadId=" in query
        with lock:
            if key not in raced or key in done or not (single_put or completion):
                return
            done.add(key)
        client.put_object(Bucket=bucket, Key=key, Body=OTHER + key.encode())

    return before_forward


def _run(run_cli: Any, proxy: FaultProxy, bucket: str, *args: str) -> CliResult:
    return run_cli(
        "--bucket", bucket, "--endpoint-url", proxy.endpoint_url, "--json", "-v",
        "--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB", *args,
        endpoint=False,
    )  # fmt: skip


def _lines(result: CliResult) -> dict[str, dict[str, Any]]:
    """The per-file JSON lines of a run, by key."""
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()[:-1]]
    return {row["key"]: row for row in rows}


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_add_skips_keys_that_appeared_meanwhile_and_overwrites_nothing(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    proxy: FaultProxy,
    transport: tuple[str, ...],
) -> None:
    src = make_tree(tmp_path / "src", {"raced.txt": SMALL, "raced.bin": BIG, "calm.txt": SMALL})
    proxy.before_forward = _other_writer(s3_client, bucket, {"raced.txt", "raced.bin"})

    result = _run(run_cli, proxy, bucket, "--put", "add", *transport, str(src))

    assert result.code == 0, result.stderr[-3000:]
    assert bucket_objects(s3_client, bucket) == {
        "raced.txt": OTHER + b"raced.txt",
        "raced.bin": OTHER + b"raced.bin",
        "calm.txt": SMALL,
    }
    lines = _lines(result)
    assert {key: (row["action"], row["reason"]) for key, row in lines.items()} == {
        "raced.txt": ("skipped", "appeared meanwhile"),
        "raced.bin": ("skipped", "appeared meanwhile"),
        "calm.txt": ("uploaded", "new"),
    }
    assert (result.summary["uploaded"], result.summary["skipped"]) == (1, 2)
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_update_fails_for_objects_changed_or_created_meanwhile_and_overwrites_none(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    proxy: FaultProxy,
    transport: tuple[str, ...],
) -> None:
    src = make_tree(
        tmp_path / "src",
        {
            "raced.txt": SMALL, "raced.bin": BIG, "appeared.txt": SMALL,
            "calm.bin": BIG, "calm-new.txt": SMALL,
        },
    )  # fmt: skip
    for key in ("raced.txt", "raced.bin", "calm.bin"):
        s3_client.put_object(Bucket=bucket, Key=key, Body=b"old")
    proxy.before_forward = _other_writer(
        s3_client, bucket, {"raced.txt", "raced.bin", "appeared.txt"}
    )

    result = _run(run_cli, proxy, bucket, "--put", "update", *transport, str(src))

    assert result.code == 1, result.stderr[-3000:]
    assert bucket_objects(s3_client, bucket) == {
        "raced.txt": OTHER + b"raced.txt",
        "raced.bin": OTHER + b"raced.bin",
        "appeared.txt": OTHER + b"appeared.txt",
        "calm.bin": BIG,  # If-Match held: overwritten, as a multipart upload
        "calm-new.txt": SMALL,
    }
    lines = _lines(result)
    assert {key: row["action"] for key, row in lines.items()} == {
        "raced.txt": "failed", "raced.bin": "failed", "appeared.txt": "failed",
        "calm.bin": "uploaded", "calm-new.txt": "uploaded",
    }  # fmt: skip
    assert "changed meanwhile and was not overwritten" in lines["raced.txt"]["error"]
    assert "changed meanwhile and was not overwritten" in lines["raced.bin"]["error"]
    assert "appeared meanwhile and was not overwritten" in lines["appeared.txt"]["error"]
    assert (result.summary["uploaded"], result.summary["failed"]) == (2, 3)
    assert result.summary["retries"] == 0
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_stupid_overwrites_what_appeared_meanwhile(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, proxy: FaultProxy
) -> None:
    src = make_tree(tmp_path / "src", {"raced.txt": SMALL})
    proxy.before_forward = _other_writer(s3_client, bucket, {"raced.txt"})

    result = _run(run_cli, proxy, bucket, "--put", "stupid", str(src))

    assert result.code == 0, result.stderr[-3000:]
    assert bucket_objects(s3_client, bucket) == {"raced.txt": SMALL}


@pytest.fixture
def source_bucket(s3_client: Any, bucket: str) -> Iterator[str]:
    name = f"{bucket}-source"
    s3_client.create_bucket(Bucket=name)
    yield name
    for key in bucket_objects(s3_client, name):
        s3_client.delete_object(Bucket=name, Key=key)
    s3_client.delete_bucket(Bucket=name)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_copy_overwrites_nothing_written_meanwhile(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    source_bucket: str,
    proxy: FaultProxy,
    transport: tuple[str, ...],
) -> None:
    for name in ("new", "changed", "calm"):
        s3_client.put_object(Bucket=source_bucket, Key=f"data/{name}.txt", Body=SMALL)
    s3_client.put_object(Bucket=bucket, Key="copy/changed.txt", Body=b"old")
    raced = {"copy/new.txt", "copy/changed.txt"}
    proxy.before_forward = _other_writer(s3_client, bucket, raced)

    result = _run(
        run_cli, proxy, bucket, "--walk", "s3", "--put", "copy", "--prefix", "copy",
        *transport, f"s3://{source_bucket}/data",
    )  # fmt: skip

    assert result.code == 1, result.stderr[-3000:]
    assert bucket_objects(s3_client, bucket) == {
        "copy/new.txt": OTHER + b"copy/new.txt",
        "copy/changed.txt": OTHER + b"copy/changed.txt",
        "copy/calm.txt": SMALL,
    }
    assert {key: row["action"] for key, row in _lines(result).items()} == {
        "copy/new.txt": "failed", "copy/changed.txt": "failed", "copy/calm.txt": "uploaded",
    }  # fmt: skip


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_server_without_conditional_writes_gets_one_warning_and_plain_writes(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    tmp_path: Path,
    proxy: FaultProxy,
    transport: tuple[str, ...],
) -> None:
    files = {"a.txt": SMALL, "b.txt": SMALL, "big.bin": BIG}
    src = make_tree(tmp_path / "src", files)
    # Every request with If-None-Match (a single PUT, or the completion of a multipart
    # upload) is answered 501, as by a server that does not implement it.
    proxy.rules = FaultRules(not_implemented=1.0, header="If-None-Match")

    result = _run(run_cli, proxy, bucket, "--put", "add", *transport, str(src))

    assert result.code == 0, result.stderr[-3000:]
    assert bucket_objects(s3_client, bucket) == files
    assert result.summary["uploaded"] == 3
    assert result.stderr.count("does not take conditional writes") == 1, result.stderr
    assert "HTTP 501" in result.stderr and "NotImplemented" in result.stderr
    assert proxy.stats["not_implemented"] >= 1
    assert s3_client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
