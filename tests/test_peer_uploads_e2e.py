"""Objects that other tools uploaded, against the real server: the real s5cmd, aws s3,
boto3 and rclone store a tree (each with its own part sizes, checked in the ETags they
leave), then --put update --compare checksum skips every unchanged file and uploads
exactly the changed ones; a dry run decides the same and writes nothing."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from devsupport.locals3 import LocalS3
from devsupport.peers import PeerMissing, rclone_binary, venv_tool
from tests.conftest import make_tree

MiB = 1024 * 1024
OWN_PART_SIZE = 8 * MiB  # the tool's own (--multipart-chunksize's default)
MID = "mid.bin"
BIG = "nested/deeper/big.bin"
SIZES = {"small.txt": 6, MID: 20 * MiB, BIG: 60 * MiB, "nested/small.txt": 6}
PREFIX = "from-peer"
PEER_TIMEOUT_S = 120
MARK = {"Key": "stored-by", "Value": "peer"}
Decisions = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class Target:
    server: LocalS3
    client: Any
    bucket: str

    def url(self) -> str:
        return f"s3://{self.bucket}/{PREFIX}/"


@dataclass(frozen=True)
class Peer:
    """How one tool uploads a tree, the part size it uses for each file (None: one PUT, a
    plain MD5 ETag), and why big.bin, changed in place, is uploaded again."""

    upload: Callable[[Path, Target], None]
    part_sizes: dict[str, int | None]
    big_changed: str = "changed"


def _run(command: list[str | Path], env: dict[str, str]) -> None:
    """Run a peer; a failure is its output alone, with no traceback (whose frames would
    show ``env`` and its keys)."""
    name = Path(command[0]).name
    try:
        proc = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=PEER_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as e:
        raise pytest.fail.Exception(f"{name} did not run: {e}", pytrace=False) from None
    if proc.returncode != 0:
        pytest.fail(f"{name} failed:\n{proc.stdout}{proc.stderr}", pytrace=False)


def _s5cmd(tree: Path, target: Target) -> None:
    _run([venv_tool("s5cmd"), "--endpoint-url", target.server.endpoint_url,
          "cp", f"{tree}/*", target.url()], target.server.env())  # fmt: skip


def _aws(tree: Path, target: Target) -> None:
    _run([venv_tool("aws"), "--endpoint-url", target.server.endpoint_url,
          "s3", "cp", "--recursive", "--only-show-errors", str(tree), target.url()],
         target.server.env())  # fmt: skip


def _put_object(tree: Path, target: Target) -> None:
    for name in SIZES:
        target.client.put_object(
            Bucket=target.bucket, Key=f"{PREFIX}/{name}", Body=(tree / name).read_bytes()
        )


def _upload_file_16mib(tree: Path, target: Target) -> None:
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=16 * MiB)
    for name in SIZES:
        target.client.upload_file(str(tree / name), target.bucket, f"{PREFIX}/{name}",
                                  Config=config)  # fmt: skip


def _rclone(*options: str) -> Callable[[Path, Target], None]:
    def upload(tree: Path, target: Target) -> None:
        env = target.server.env()
        # the AWS SDK for Go that rclone 1.60 holds cannot apply a CA bundle to rclone's
        # own HTTP transport, and fails; the server speaks plain http anyway
        env.pop("AWS_CA_BUNDLE", None)
        env.update(
            RCLONE_CONFIG_PEER_TYPE="s3",
            RCLONE_CONFIG_PEER_PROVIDER="Other",
            RCLONE_CONFIG_PEER_ENDPOINT=target.server.endpoint_url,
            RCLONE_CONFIG_PEER_ACCESS_KEY_ID=target.server.access_key,
            RCLONE_CONFIG_PEER_SECRET_ACCESS_KEY=target.server.secret_key,
            RCLONE_CONFIG_PEER_REGION=target.server.region,
        )
        _run([rclone_binary(), "--config", "", "copy", *options, str(tree),
              f"peer:{target.bucket}/{PREFIX}"], env)  # fmt: skip

    return upload


def _parts(mid: int | None, big: int | None) -> dict[str, int | None]:
    return {"small.txt": None, MID: mid, BIG: big, "nested/small.txt": None}


PEERS = {
    # one PUT up to 50 MiB, 50 MiB parts above; the -2 of 60 MiB fits every part size
    # from 30 MiB to 59 MiB, more than are tried, so big.bin changed cannot be told
    "s5cmd": Peer(_s5cmd, _parts(None, 50 * MiB), big_changed="cannot verify"),
    # 8 MiB parts above 8 MiB: as this tool
    "aws-s3-cp": Peer(_aws, _parts(8 * MiB, 8 * MiB)),
    # one PUT whatever the size, as the original s3-parallel-put
    "boto3-put-object": Peer(_put_object, _parts(None, None)),
    # 16 MiB parts (as minio's mc) above 5 MiB
    "boto3-16mib-parts": Peer(_upload_file_16mib, _parts(16 * MiB, 16 * MiB)),
    # rclone's own 5 MiB chunks, above a 10 MiB cutoff
    "rclone-5mib-parts": Peer(
        _rclone("--s3-upload-cutoff", "10Mi", "--s3-chunk-size", "5Mi"), _parts(5 * MiB, 5 * MiB)
    ),
    # rclone's defaults: one PUT below 200 MiB
    "rclone-defaults": Peer(_rclone(), _parts(None, None)),
}


def _etag(data: bytes, part_size: int | None) -> str:
    """The ETag S3 gives ``data`` uploaded in one PUT (None) or in parts of ``part_size``."""
    if part_size is None:
        return hashlib.md5(data).hexdigest()
    parts = [data[at : at + part_size] for at in range(0, len(data), part_size)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def _unchanged(part_size: int | None) -> str:
    if part_size is None or part_size == OWN_PART_SIZE:
        return "unchanged"
    return f"unchanged ({part_size // MiB} MiB parts)"


def _listing(target: Target) -> dict[str, tuple[str, Any, int]]:
    """Every object: (ETag, LastModified, Size), by key relative to the prefix."""
    pages = target.client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket)
    return {
        obj["Key"].removeprefix(f"{PREFIX}/"): (obj["ETag"].strip('"'), obj["LastModified"],
                                                obj["Size"])
        for page in pages for obj in page.get("Contents", [])
    }  # fmt: skip


def _mark(target: Target) -> None:
    """Tag every object the peer stored: an object written again loses the tag (the
    server's LastModified has whole seconds, too coarse to tell)."""
    for name in SIZES:
        target.client.put_object_tagging(
            Bucket=target.bucket, Key=f"{PREFIX}/{name}", Tagging={"TagSet": [MARK]}
        )


def _marked(target: Target) -> set[str]:
    """The files whose objects are still the peer's."""
    return {
        name for name in SIZES
        if target.client.get_object_tagging(Bucket=target.bucket, Key=f"{PREFIX}/{name}")[
            "TagSet"] == [MARK]
    }  # fmt: skip


def _decisions(run_cli: Any, tree: Path, target: Target, run: str, *options: str) -> Decisions:
    """Run the tool over ``tree`` into the peer's prefix; (action, reason) by file."""
    report = tree.parent / f"{run}.jsonl"
    result = run_cli("--bucket", target.bucket, "--prefix", PREFIX, "--report", str(report),
                     "--json", *options, str(tree))  # fmt: skip
    assert result.code == 0, result.stderr
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    return {
        line["key"].removeprefix(f"{PREFIX}/"): (line["action"], line["reason"]) for line in lines
    }


def _change(tree: Path) -> None:
    """big.bin: four bytes flipped in the middle, the same size; mid.bin: one byte more."""
    with (tree / BIG).open("r+b") as file:
        file.seek(30 * MiB)
        flipped = bytes(byte ^ 0xFF for byte in file.read(4))
        file.seek(30 * MiB)
        file.write(flipped)
    with (tree / MID).open("ab") as file:
        file.write(b"+")


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tree every peer uploads: random bytes, written once."""
    rng = random.Random(20240611)
    return make_tree(
        tmp_path_factory.mktemp("peers"),
        {name: rng.randbytes(size) for name, size in SIZES.items()},
    )


@pytest.mark.parametrize("peer", PEERS.values(), ids=PEERS.keys())
def test_only_changed_files_uploaded_by_another_tool_are_uploaded_again(
    run_cli: Any, s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path,
    original: Path, peer: Peer,
) -> None:  # fmt: skip
    tree = tmp_path / "src"
    shutil.copytree(original, tree)
    target = Target(s3_server, s3_client, bucket)
    try:
        peer.upload(tree, target)
    except PeerMissing as e:
        raise pytest.fail.Exception(str(e), pytrace=False) from None
    _mark(target)
    stored = _listing(target)
    assert {name: etag for name, (etag, _, _) in stored.items()} == {
        name: _etag((tree / name).read_bytes(), part) for name, part in peer.part_sizes.items()
    }, "the peer did not store the parts it is meant to"

    first = _decisions(run_cli, tree, target, "first")

    assert first == {name: ("skipped", _unchanged(part)) for name, part in peer.part_sizes.items()}
    assert (_listing(target), _marked(target)) == (stored, set(SIZES))

    _change(tree)
    dry = _decisions(run_cli, tree, target, "dry", "--dry-run")
    assert (_listing(target), _marked(target)) == (stored, set(SIZES))
    second = _decisions(run_cli, tree, target, "second")

    assert second == {
        **first,
        MID: ("uploaded", "size differs"),
        BIG: ("uploaded", peer.big_changed),
    }
    assert dry == {
        name: ("would_upload" if action == "uploaded" else action, reason)
        for name, (action, reason) in second.items()
    }
    kept = set(SIZES) - {MID, BIG}
    assert _marked(target) == kept
    assert {name: row for name, row in _listing(target).items() if name in kept} == {
        name: stored[name] for name in kept
    }
    for name in SIZES:
        body = s3_client.get_object(Bucket=bucket, Key=f"{PREFIX}/{name}")["Body"].read()
        assert body == (tree / name).read_bytes(), name
