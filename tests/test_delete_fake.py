"""--delete in a TestPipeline against the in-memory fake transport: what is deleted, what
is kept, and the guards that delete nothing (an incomplete walk, --max-delete)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from devsupport.fakes3 import SERVER, FakeObject, FakeTransport
from pipeline import UploadConfig, UploadTree
from pipeline.filters import EXCLUDE, FileFilter
from pipeline.plan import DEFAULT_RUNNER
from pipeline.transport.errors import ErrorKind
from tests.conftest import FAKE_BUCKET, make_tree

BUCKET = FAKE_BUCKET
pytestmark = pytest.mark.usefixtures("fake_s3")


def _sync(tmp_path: Path, tree: Path, spread: bool = False, **fields: Any) -> dict[str, Any]:
    """Run the command's pipeline (UploadTree) with --delete; its summary."""
    config = UploadConfig.for_bucket(
        BUCKET, "http://127.0.0.1:9", factory=FakeTransport, prefix="site", delete=True,
        sources=(str(tree),), **fields,
    )  # fmt: skip
    summary = tmp_path / "summary.json"
    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        _ = p | UploadTree(config, str(summary), spread=spread)
    return dict(json.loads(summary.read_text()))


def _bucket(*keys: str) -> None:
    for key in keys:
        SERVER.buckets[BUCKET][key] = FakeObject(b"old", "x", 0.0)


def _keys() -> set[str]:
    return set(SERVER.buckets[BUCKET])


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_objects_no_file_maps_to_are_deleted_and_the_rest_kept(
    tmp_path: Path, spread: bool
) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a", "sub/b.txt": b"b", "skip.log": b"l"})
    _bucket(
        "site/a.txt", "site/gone.txt", "site/sub/gone.txt", "site/old/deep/gone.txt",
        "site/folder/", "site/kept.log", "elsewhere/x.txt", "site2/x.txt",
    )  # fmt: skip
    excluded = FileFilter(rules=((EXCLUDE, "*.log"),))

    summary = _sync(tmp_path, tree, spread, file_filter=excluded)

    assert _keys() == {
        "site/a.txt", "site/sub/b.txt", "site/folder/", "site/kept.log",
        "elsewhere/x.txt", "site2/x.txt",
    }  # fmt: skip
    assert (summary["deleted"], summary["files"], summary["failed"]) == (3, 2, 0)


def test_an_unreadable_directory_means_nothing_is_deleted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    tree = make_tree(tmp_path / "t", {"open/a.txt": b"a", "closed/b.txt": b"b"})
    _bucket("site/closed/b.txt", "site/gone.txt")
    real_scandir = os.scandir

    def scandir(path: Any) -> Any:
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("pipeline.shards.os.scandir", scandir)
    summary = _sync(tmp_path, tree)

    assert {"site/closed/b.txt", "site/gone.txt"} <= _keys()
    assert (summary["deleted"], summary["walk_incomplete"]) == (0, 1)


def test_a_failed_listing_means_nothing_is_deleted(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a"})
    _bucket("site/gone.txt")
    SERVER.fail("list_objects", f"s3://{BUCKET}/site/", ErrorKind.SERVER)

    summary = _sync(tmp_path, tree)

    assert "site/gone.txt" in _keys()
    assert (summary["deleted"], summary["failed"], summary["walk_incomplete"]) == (0, 1, 1)


def test_more_than_max_delete_planned_means_none(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a"})
    _bucket("site/1", "site/2", "site/3")

    assert _sync(tmp_path, tree, max_delete=2)["deleted"] == 0
    assert {"site/1", "site/2", "site/3"} <= _keys()
    assert _sync(tmp_path, tree, max_delete=3)["deleted"] == 3


def test_a_dry_run_over_max_delete_counts_its_listed_deletions_as_withheld(
    tmp_path: Path,
) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a"})
    _bucket("site/1", "site/2", "site/3")

    summary = _sync(tmp_path, tree, max_delete=2, dry_run=True)

    counts = ("would_delete", "deleted", "failed", "files")
    assert tuple(summary[name] for name in counts) == (0, 0, 0, 1)
    assert SERVER.count("delete_objects") == 0


def test_a_dry_run_lists_what_would_be_deleted(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"a.txt": b"a"})
    _bucket("site/gone.txt")

    summary = _sync(tmp_path, tree, dry_run=True)

    assert (summary["would_delete"], summary["deleted"]) == (1, 0)
    assert "site/gone.txt" in _keys()
    assert SERVER.count("delete_objects") == 0


def test_deletions_go_in_batches_and_a_refused_key_fails_alone(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"keep.txt": b"k"})
    stale = [f"site/d{i % 3}/{i:05}" for i in range(2500)]
    _bucket(*stale)
    SERVER.fail("delete", stale[7], ErrorKind.DENIED)

    summary = _sync(tmp_path, tree)

    assert (summary["deleted"], summary["failed"]) == (2499, 1)
    assert _keys() == {"site/keep.txt", stale[7]}
    batches = [int(n) for op, n in SERVER.requests if op == "delete_objects"]
    assert sum(batches) == 2500 and max(batches) <= 1000


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_files_the_age_filter_leaves_out_keep_their_objects(tmp_path: Path, spread: bool) -> None:
    import os
    import time

    tree = make_tree(tmp_path / "t", {"old.txt": b"o", "new.txt": b"n", "sub/old2.txt": b"p"})
    month_ago = time.time() - 30 * 86400
    for name in ("old.txt", "sub/old2.txt"):
        os.utime(tree / name, (month_ago, month_ago))
    # Uploaded by an earlier run, so last modified recently (after the files' mtimes).
    for key in ("site/old.txt", "site/new.txt", "site/sub/old2.txt", "site/gone.txt"):
        SERVER.buckets[BUCKET][key] = FakeObject(b"x", "x", time.time())

    summary = _sync(tmp_path, tree, spread, file_filter=FileFilter.build([], 7))

    assert _keys() == {"site/old.txt", "site/new.txt", "site/sub/old2.txt"}
    assert (summary["deleted"], summary["files"]) == (1, 1)


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_the_listing_is_taken_before_the_first_upload(tmp_path: Path, spread: bool) -> None:
    tree = make_tree(tmp_path / "t", {f"d{i}/f{j}.txt": b"x" for i in range(3) for j in range(3)})
    _bucket("site/gone.txt")

    _sync(tmp_path, tree, spread)

    operations = [operation for operation, _ in SERVER.requests]
    assert "put" in operations
    assert operations.index("list_objects") < operations.index("put")


def test_a_directory_the_rules_leave_out_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    tree = make_tree(
        tmp_path / "t", {"open/a.txt": b"a", "locked/b.txt": b"b", "locked/deep/c.txt": b"c"}
    )
    _bucket("site/locked/b.txt", "site/locked/old.txt", "site/gone.txt")
    real_scandir = os.scandir
    read = []

    def scandir(path: Any) -> Any:
        read.append(str(path))
        if "locked" in str(path):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr("pipeline.shards.os.scandir", scandir)
    summary = _sync(tmp_path, tree, file_filter=FileFilter(rules=((EXCLUDE, "locked/*"),)))

    assert not [path for path in read if "locked" in path]
    assert (summary["deleted"], summary["walk_incomplete"], summary["failed"]) == (1, 0, 0)
    assert _keys() == {"site/open/a.txt", "site/locked/b.txt", "site/locked/old.txt"}


def test_archive_members_the_age_filter_leaves_out_keep_their_objects(tmp_path: Path) -> None:
    import tarfile
    import time

    from pipeline.options import WalkKind

    archive = tmp_path / "t.tar"
    with tarfile.open(archive, "w") as tar:
        for name, mtime in (("old.txt", time.time() - 30 * 86400), ("new.txt", time.time())):
            source = tmp_path / name
            source.write_bytes(name.encode())
            info = tar.gettarinfo(str(source), arcname=name)
            info.mtime = int(mtime)
            with open(source, "rb") as f:
                tar.addfile(info, f)
    for key in ("site/old.txt", "site/gone.txt"):
        SERVER.buckets[BUCKET][key] = FakeObject(b"x", "x", time.time())

    summary = _sync(tmp_path, archive, walk=WalkKind.TAR, file_filter=FileFilter.build([], 7))

    assert _keys() == {"site/old.txt", "site/new.txt"}
    assert (summary["deleted"], summary["uploaded"]) == (1, 1)
