"""Units: splitting roots into subtrees and shards, carried batches."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import shards
from pipeline.records import Action, FileResult, LocalFile, Root
from pipeline.shards import Shard, batch_carried, shard_subtree, split_root, walk_shard
from pipeline.sources.filesystem import resolve_sources
from tests.conftest import make_tree, walk_tree


def _tree(tmp_path: Path) -> Path:
    files = {f"d{d}/s{s}/f{f}.txt": b"x" for d in range(3) for s in range(2) for f in range(3)}
    files.update({"top.txt": b"t", "big/" + "a" * 3: b"a"})
    return make_tree(tmp_path / "src", files)


def _walked(shard_list: list[Shard], prefix: str = "") -> list[str]:
    return [item.key for shard in shard_list for item in walk_shard(shard, prefix, _no_filter())]


def _no_filter():  # type: ignore[no-untyped-def]
    from pipeline.filters import FileFilter

    return FileFilter()


def test_split_then_shard_covers_every_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = resolve_sources((str(_tree(tmp_path)),))[0]
    monkeypatch.setattr(shards, "SPLIT_DIRECTORIES", 3)
    subtrees = list(split_root(root, whole=False))
    flat = [s for s in subtrees if not s.recursive]
    assert len(flat) == 3 and len(subtrees) > 3  # the rest go as recursive subtrees
    spread = [shard for subtree in subtrees for shard in shard_subtree(subtree, "p")]
    in_order = list(walk_tree((root,), "p"))
    assert sorted(_walked(spread, "p")) == sorted(item.key for item in in_order)
    assert len(_walked(spread, "p")) == 3 * 2 * 3 + 2


def test_a_big_directory_is_cut_in_slices(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree = make_tree(tmp_path / "src", {f"big/{n:03d}": b"" for n in range(7)})
    monkeypatch.setattr(shards, "SHARD_FILES", 3)
    root = Root(str(tree), str(tree))
    got = [s for subtree in split_root(root, whole=True) for s in shard_subtree(subtree, "p/")]
    big = [s for s in got if s.names]
    assert [s.names for s in big] == [("000", "001", "002"), ("003", "004", "005"), ("006",)]
    assert [s.after for s in big] == ["", "p/big/002", "p/big/005"]
    assert {s.key_prefix for s in big} == {"p/big/"}


def test_a_file_source_is_one_shard(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", {"a/b.txt": b"b"})
    root = resolve_sources((str(tree / "a" / "b.txt"),))[0]
    (only,) = [s for subtree in split_root(root, False) for s in shard_subtree(subtree, "k")]
    assert (only.key_prefix, only.names) == ("k/", ("b.txt",))


def test_a_directory_gone_before_its_worker_reads_it_is_a_failure(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "src", {"gone/a": b"a", "kept/b": b"b"})
    root = Root(str(tree), str(tree))
    subtrees = list(split_root(root, whole=False))
    (tree / "gone" / "a").unlink()
    (tree / "gone").rmdir()
    results = [
        item
        for subtree in subtrees
        for shard in shard_subtree(subtree, "")
        for item in walk_shard(shard, "", _no_filter())
    ]
    assert [r.key for r in results] == ["gone", "kept/b"]
    gone, kept = results
    assert isinstance(gone, FileResult) and gone.action is Action.FAILED
    assert "No such file" in gone.error
    assert isinstance(kept, LocalFile)


def test_carried_files_are_batched_by_directory_and_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shards, "CARRIED_BYTES", 10)
    items = [
        LocalFile("t!a/1", "a/1", 6, 0.0, data=b"x" * 6),
        LocalFile("t!a/2", "a/2", 6, 0.0, data=b"x" * 6),
        LocalFile("t!b/1", "b/1", 1, 0.0, data=b"x"),
        FileResult("t!b/2", "b/2", Action.SKIPPED),
    ]
    got = list(batch_carried(items))
    assert [(s.key_prefix, [i.key for i in s.carried]) for s in got] == [
        ("a/", ["a/1"]),
        ("a/", ["a/2"]),
        ("b/", ["b/1", "b/2"]),
    ]
