"""--compare against the real server: what each mode uploads on a re-sync, and the checksum
cache that spares reading an unchanged tree (the refused combination: tests/test_usage.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from tests.conftest import make_tree

FILES = {f"d{i % 3}/f{i}.txt": f"contents {i}".encode() for i in range(12)}
LONG_AGO = 1_000_000_000.0


def _tree(tmp_path: Path) -> Path:
    tree = make_tree(tmp_path / "src", FILES)
    for name in FILES:
        os.utime(tree / name, (LONG_AGO, LONG_AGO))
    return tree


def test_size_mtime_resyncs_only_files_newer_than_their_objects(
    run_cli: Any, bucket: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path)
    assert run_cli("--bucket", bucket, "--json", str(tree)).summary["uploaded"] == len(FILES)

    (tree / "d0/f0.txt").write_bytes(b"contents X")  # the same size, newer
    os.utime(tree / "d1/f1.txt", (LONG_AGO, LONG_AGO))  # untouched but for the ctime
    again = run_cli("--bucket", bucket, "--json", "--compare", "size-mtime", str(tree))

    assert again.code == 0, again.stderr
    assert (again.summary["uploaded"], again.summary["skipped"]) == (1, len(FILES) - 1)


def test_size_skips_same_sized_changes(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path)
    first = run_cli("--bucket", bucket, "--json", str(tree))
    assert (first.code, first.summary["uploaded"]) == (0, len(FILES)), first.stderr
    before = (tree / "d0/f0.txt").read_bytes()
    (tree / "d0/f0.txt").write_bytes(b"contents X")
    assert len(before) == len(b"contents X") and before != b"contents X"

    again = run_cli("--bucket", bucket, "--json", "--compare", "size", str(tree))

    assert again.code == 0, again.stderr
    assert (again.summary["uploaded"], again.summary["skipped"]) == (0, len(FILES))
    assert s3_client.get_object(Bucket=bucket, Key="d0/f0.txt")["Body"].read() == before


def test_checksum_cache_remembers_each_file_and_still_sees_a_change(
    run_cli: Any, bucket: str, tmp_path: Path
) -> None:
    tree = _tree(tmp_path)
    cache = tmp_path / "checksums.sqlite"
    args = ["--bucket", bucket, "--json", "--checksum-cache", str(cache), str(tree)]
    run_cli(*args)
    first = run_cli(*args)  # hashes every file once
    with sqlite3.connect(cache) as db:
        remembered = db.execute("SELECT count(*) FROM etags").fetchone()[0]
    assert (first.summary["skipped"], remembered) == (len(FILES), len(FILES))

    (tree / "d2/f2.txt").write_bytes(b"contents Y")
    os.utime(tree / "d2/f2.txt", (LONG_AGO, LONG_AGO))  # size and mtime as before
    second = run_cli(*args)

    assert second.code == 0, second.stderr
    assert (second.summary["uploaded"], second.summary["skipped"]) == (1, len(FILES) - 1)
