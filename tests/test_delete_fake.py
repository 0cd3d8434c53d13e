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
from pipeline.run import DEFAULT_RUNNER
from pipeline.transport.base import ErrorKind
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
