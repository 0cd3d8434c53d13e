"""Objects whose ETag cannot tell, against SeaweedFS with the real CLI: multipart uploads
of parts of several sizes, recognised by their stored full-object checksum (or uploaded
when they hold none), and a server whose ETags are no MD5s (a proxy rewrites them), for
which size and mtime decide, with one warning."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from devsupport.faultproxy import FaultProxy, Response
from devsupport.locals3 import LocalS3
from tests.conftest import CliResult, last_byte_changed, make_tree

MIB = 1024 * 1024
DATA = os.urandom(12 * MIB)
# 40 MiB in two parts: every size from 20 MiB to 39 MiB makes two parts, more than are tried
LARGE = os.urandom(40 * MIB)
pytestmark = pytest.mark.e2e


def _upload_in_uneven_parts(client: Any, bucket: str, key: str, data: bytes, **kind: str) -> str:
    """Store ``data`` in two parts of different sizes, which no part size makes
    (``kind``: ChecksumAlgorithm and ChecksumType); its ETag."""
    cuts = (0, 5 * MIB + 3, len(data))
    upload = client.create_multipart_upload(Bucket=bucket, Key=key, **kind)
    algorithm = {"ChecksumAlgorithm": kind["ChecksumAlgorithm"]}
    parts = []
    for number, (start, end) in enumerate(itertools.pairwise(cuts), 1):
        answer = client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload["UploadId"], PartNumber=number,
            Body=data[start:end], **algorithm,
        )  # fmt: skip
        checksums = {k: v for k, v in answer.items() if k.startswith("Checksum")}
        parts.append({"PartNumber": number, "ETag": answer["ETag"], **checksums})
    done = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
    )
    return str(done["ETag"]).strip('"')


def _decisions(result: CliResult) -> dict[str, tuple[str, str]]:
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()[:-1]]
    return {row["key"]: (row["action"], row["reason"]) for row in rows}


def test_parts_of_several_sizes_are_recognised_by_a_stored_checksum(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    changed = last_byte_changed(DATA)  # the same size
    files = {"same": DATA, "changed": changed, "composite": LARGE}
    tree = make_tree(tmp_path / "t", files)
    full = {"ChecksumAlgorithm": "CRC64NVME", "ChecksumType": "FULL_OBJECT"}
    etags = {
        "same": _upload_in_uneven_parts(s3_client, bucket, "same", DATA, **full),
        "changed": _upload_in_uneven_parts(s3_client, bucket, "changed", DATA, **full),
        "composite": _upload_in_uneven_parts(
            s3_client, bucket, "composite", LARGE, ChecksumAlgorithm="CRC32",
            ChecksumType="COMPOSITE",
        ),
    }  # fmt: skip
    assert all(etag.endswith("-2") for etag in etags.values())

    result = run_cli("--bucket", bucket, "--json", "-v", str(tree))

    assert result.code == 0, result.stderr[-3000:]
    assert _decisions(result) == {
        "same": ("skipped", "unchanged (CRC64NVME checksum)"),
        "changed": ("uploaded", "changed"),
        # Not every part size could be tried, and a checksum of parts is no help.
        "composite": ("uploaded", "cannot verify"),
    }
    stored = s3_client.get_object(Bucket=bucket, Key="changed")["Body"].read()
    assert stored == changed
    assert s3_client.head_object(Bucket=bucket, Key="same")["ETag"].strip('"') == etags["same"]


@pytest.fixture
def opaque_etags(s3_server: LocalS3) -> Iterator[FaultProxy]:
    """A proxy before the server that gives every ETag it answers with another form, of
    the same length: a server whose ETags are no MD5s."""

    def rewrite(method: str, target: str, response: Response) -> Response:
        def opaque(match: re.Match[bytes]) -> bytes:
            return b"s" * len(match[0])

        head = re.sub(rb"(?<=ETag: \")[0-9a-f]{32}", opaque, response.head, flags=re.I)
        body = re.sub(rb"(?<=<ETag>&#34;)[0-9a-f]{32}", opaque, response.body)
        body = re.sub(rb"(?<=<ETag>\")[0-9a-f]{32}", opaque, body)
        return dataclasses.replace(response, head=head, body=body)

    with FaultProxy(s3_server.port) as proxy:
        proxy.rewrite_response = rewrite
        yield proxy


def test_etags_that_are_no_md5s_fall_back_to_size_and_mtime_with_one_warning(
    run_cli: Any, s3_server: LocalS3, bucket: str, tmp_path: Path, opaque_etags: FaultProxy
) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"alpha", "b.txt": b"bravo"})
    # Stored without a checksum (boto3 adds a CRC32 unless told it is not required).
    client = s3_server.client(config=Config(request_checksum_calculation="when_required"))
    for name in ("a.txt", "b.txt"):
        os.utime(tree / name, (1_000_000_000, 1_000_000_000))  # older than the objects
        client.put_object(Bucket=bucket, Key=name, Body=b"other")  # the same size

    result = run_cli(
        "--bucket", bucket, "--endpoint-url", opaque_etags.endpoint_url, "--json", "-v",
        str(tree), endpoint=False,
    )  # fmt: skip

    assert result.code == 0, result.stderr[-3000:]
    not_newer = ("skipped", "same size, not newer (its ETag is no MD5)")
    assert _decisions(result) == {"a.txt": not_newer, "b.txt": not_newer}
    assert result.summary["compared_by_mtime"] == 2
    warnings = [line for line in result.stderr.splitlines() if "no MD5" in line]
    assert warnings == [
        "s3-parallel-put: warning: 2 objects have an ETag that is no MD5 (SSE-KMS, SSE-C or "
        "the server's own) and no stored checksum: they were compared with their files by "
        "size and mtime"
    ]
