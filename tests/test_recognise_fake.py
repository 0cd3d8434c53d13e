"""The put decision over objects that other tools stored, against the in-memory fake:
other part sizes and one-PUT uploads are recognised, stored checksums are used where the
ETag is no MD5, and a re-sync reads nothing twice."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from devsupport.fakes3 import SERVER, FakeObject, FakeTransport
from pipeline import Action, UploadConfig
from pipeline.digests import MD5, compute, multipart
from pipeline.etags import MiB
from pipeline.plan import DEFAULT_RUNNER, make_plan
from pipeline.run import run_pipeline
from pipeline.transport.errors import ErrorKind
from tests.conftest import FAKE_BUCKET, last_byte_changed, make_tree
from tests.test_pipeline_fake import _HASHED as _READS
from tests.test_pipeline_fake import _counting_digests, _run

BUCKET = FAKE_BUCKET
pytestmark = pytest.mark.usefixtures("fake_s3")
OLD = 1_000_000_000.0  # files last modified long ago: settled, as the cache wants
DATA = os.urandom(11 * MiB)


def _config(tmp_path: Path, **fields: Any) -> UploadConfig:
    return UploadConfig.for_bucket(
        BUCKET,
        "http://127.0.0.1:9",
        factory=FakeTransport,
        checksum_cache=str(tmp_path / "cache.sqlite"),
        **fields,
    )


def _tree(tmp_path: Path, files: dict[str, bytes]) -> Path:
    tree = make_tree(tmp_path / "t", files)
    for name in files:
        os.utime(tree / name, (OLD, OLD))
    return tree


def _store(key: str, data: bytes, etag: str, mtime: float = OLD + 10, **headers: str) -> None:
    """An object as another tool or server left it."""
    stored = tuple((f"x-amz-{name.replace('_', '-')}", v) for name, v in headers.items())
    SERVER.buckets[BUCKET][key] = FakeObject(data, etag, mtime, stored_headers=stored)


def _digest(data: bytes, spec: str) -> str:
    return compute(io.BytesIO(data), [spec])[spec]


def test_objects_of_other_tools_are_recognised_and_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed = last_byte_changed(DATA)  # the same size
    names = ("one-put", "rclone", "own", "minio", "changed")
    tree = _tree(tmp_path, {name: changed if name == "changed" else DATA for name in names})
    _store("one-put", DATA, _digest(DATA, MD5))  # s5cmd below 50 MiB, put_object
    _store("rclone", DATA, _digest(DATA, multipart(5 * MiB)))
    _store("own", DATA, _digest(DATA, multipart(8 * MiB)))
    _store("minio", DATA, _digest(DATA, multipart(6 * MiB)))  # a whole-MiB size
    _store("changed", DATA, _digest(DATA, multipart(5 * MiB)))
    monkeypatch.setattr("pipeline.decision.body_digests", _counting_digests)
    config = _config(tmp_path)
    _READS.clear()

    first = _run(config, [str(tree)])

    assert first == [
        ("changed", Action.UPLOADED, "changed", 0),
        ("minio", Action.SKIPPED, "unchanged (6 MiB parts)", 0),
        ("one-put", Action.SKIPPED, "unchanged", 0),
        ("own", Action.SKIPPED, "unchanged", 0),
        ("rclone", Action.SKIPPED, "unchanged (5 MiB parts)", 0),
    ]
    assert SERVER.buckets[BUCKET]["changed"].data == changed
    # The changed file's object is asked about (is its ETag an MD5? a checksum?), once.
    assert SERVER.count("head") == 1

    _READS.clear()
    SERVER.requests.clear()
    second = _run(config, [str(tree)])

    assert (
        [row[:3] for row in second]
        == [
            ("changed", Action.SKIPPED, "unchanged"),  # now stored as this tool stores it
            *[row[:3] for row in first[1:]],
        ]
    )
    assert _READS == []  # every digest remembered
    assert SERVER.count("head") == 0


def test_a_stored_checksum_decides_where_the_etag_is_no_md5(tmp_path: Path) -> None:
    other = last_byte_changed(DATA)
    tree = _tree(tmp_path, {"kms-same": DATA, "kms-changed": DATA, "server": DATA})
    kms = {"server_side_encryption": "aws:kms"}
    _store("kms-same", DATA, "1" * 32, checksum_sha256=_digest(DATA, "sha256"), **kms)
    _store("kms-changed", other, "2" * 32, checksum_crc64nvme=_digest(other, "crc64nvme"), **kms)
    _store("server", DATA, "opaque:3", checksum_crc32=_digest(DATA, "crc32"))

    results = _run(_config(tmp_path), [str(tree)])

    assert results == [
        ("kms-changed", Action.UPLOADED, "changed", 0),
        ("kms-same", Action.SKIPPED, "unchanged (SHA256 checksum)", 0),
        ("server", Action.SKIPPED, "unchanged (CRC32 checksum)", 0),
    ]


def test_a_composite_checksum_is_not_taken_for_the_whole_objects(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"a": DATA})
    crc = _digest(DATA, "crc32")
    _store("a", DATA, "opaque", checksum_crc32=f"{crc}-2", checksum_type="COMPOSITE")

    assert _run(_config(tmp_path), [str(tree)]) == [("a", Action.SKIPPED, _NOT_NEWER, 0)]


_NOT_NEWER = "same size, not newer (its ETag is no MD5)"


def test_without_md5_or_checksum_the_mtime_decides_and_is_counted(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"old": DATA, "new": DATA, "md5": DATA})
    os.utime(tree / "new", (OLD + 20, OLD + 20))
    for key in ("old", "new"):
        _store(key, DATA, "4" * 32, server_side_encryption_customer_algorithm="AES256")
    _store("md5", DATA, _digest(DATA, MD5))

    config = _config(tmp_path, sources=(str(tree),))
    assert _run(config, [str(tree)]) == [
        ("md5", Action.SKIPPED, "unchanged", 0),
        ("new", Action.UPLOADED, "newer than the object (its ETag is no MD5)", 0),
        ("old", Action.SKIPPED, _NOT_NEWER, 0),
    ]
    # The run's summary counts them, for the warning that names how many.
    _store("new", DATA, "4" * 32, server_side_encryption_customer_algorithm="AES256")
    summary = run_pipeline(config, make_plan({"runner": DEFAULT_RUNNER}))
    assert (summary.skipped, summary.uploaded, summary.compared_by_mtime) == (2, 1, 2)


def test_an_object_that_refuses_a_head_is_taken_for_sse_c(tmp_path: Path) -> None:
    # S3 answers 400 to a HEAD of an SSE-C object without its key; another failure of
    # the HEAD leaves the ETag's verdict: changed.
    tree = _tree(tmp_path, {"sse-c": DATA, "denied": DATA})
    for key in ("sse-c", "denied"):
        _store(key, DATA, "6" * 32)
    SERVER.fail("head", "sse-c", ErrorKind.REFUSED)
    SERVER.fail("head", "denied", ErrorKind.DENIED)

    assert _run(_config(tmp_path), [str(tree)]) == [
        ("denied", Action.UPLOADED, "changed", 0),
        ("sse-c", Action.SKIPPED, _NOT_NEWER, 0),
    ]


def test_a_head_per_file_asks_for_the_details_at_once(tmp_path: Path) -> None:
    tree = _tree(tmp_path, {"a": DATA, "b": DATA})
    kms = {"server_side_encryption": "aws:kms"}
    _store("a", DATA, "5" * 32, checksum_sha1=_digest(DATA, "sha1"), **kms)
    _store("b", DATA, _digest(DATA, multipart(5 * MiB)))

    results = _run(_config(tmp_path, limit=2), [str(tree)])

    assert results == [
        ("a", Action.SKIPPED, "unchanged (SHA1 checksum)", 0),
        ("b", Action.SKIPPED, "unchanged (5 MiB parts)", 0),
    ]
    assert SERVER.count("head") == 2 and SERVER.count("list") == 0


def test_a_file_uploaded_as_new_or_of_another_size_is_not_read_to_decide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree(tmp_path, {"grown": DATA, "new": b"n"})
    _store("grown", DATA[:-1], _digest(DATA[:-1], MD5))
    monkeypatch.setattr("pipeline.decision.body_digests", _counting_digests)
    _READS.clear()

    assert _run(_config(tmp_path), [str(tree)]) == [
        ("grown", Action.UPLOADED, "size differs", 0),
        ("new", Action.UPLOADED, "new", 0),
    ]
    assert _READS == []
