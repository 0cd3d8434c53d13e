"""Two files for one key: the first SOURCE's file is uploaded, the later one fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.pipeline import PipelineVisitor

from pipeline.filters import EXCLUDE, FileFilter
from pipeline.graph import UploadTree
from pipeline.options import UploadConfig
from pipeline.records import Action, FileResult, LocalFile, Root
from pipeline.shards import KeyClaims, Shard, mark_clashes, shard_subtree, split_root, walk_shard
from tests.conftest import bucket_objects, make_tree

SPREAD = ["--direct_num_workers", "2"]  # the local runner with Reshuffles between shards

# Named so that the order of the paths is the opposite of the command line's.
FIRST = {"x/readme.txt": b"first readme", "common.txt": b"first common", "only-1.txt": b"1"}
SECOND = {
    "x/readme.txt": b"second readme, longer",
    "common.txt": b"second common",
    "only-2.txt": b"2",
    "x/only-2.txt": b"22",
}


def _shard(root: str, names: tuple[str, ...], index: int, after: str = "") -> Shard:
    return Shard("p/x/", Root(root, root), f"{root}/x", names, after, source_index=index)


def test_mark_clashes_lets_the_first_source_claim_a_key_whatever_the_order() -> None:
    first = [_shard("/z", ("a", "readme"), 0), _shard("/z", ("zz",), 0, after="p/x/readme")]
    second = _shard("/b", ("only", "readme", "zz"), 1)
    glob_match = _shard("/c", ("a", "new"), 2)
    later_match = _shard("/d", ("new",), 2)
    error = FileResult("/e/x", "p/x/", Action.FAILED, error="cannot read directory")
    carried = Shard("p/x/", carried=(error,))

    marked = list(mark_clashes([later_match, carried, second, glob_match, *reversed(first)]))

    assert [m.clashes for m in marked if m.root is not None and m.root.path == "/z"] == [(), ()]
    clashes = {m.root.path: m.clashes for m in marked if m.root is not None}
    assert clashes["/b"] == (("readme", "/z/x/readme"), ("zz", "/z/x/zz"))
    assert clashes["/c"] == (("a", "/z/x/a"),)
    assert clashes["/d"] == (("new", "/c/x/new"),)
    assert carried in marked and len(marked) == 6


def test_a_taken_key_fails_but_the_same_file_is_skipped_and_excluded_ones_stay_out(
    tmp_path: Path,
) -> None:
    one = make_tree(tmp_path / "one", {"a.txt": b"1", "b.log": b"1", "c.txt": b"1"})
    two = make_tree(tmp_path / "two", {"a.txt": b"2", "b.log": b"2", "d.txt": b"2"})
    roots = [Root(str(one), str(one)), Root(str(two), str(two)), Root(str(one), str(one))]
    claims = KeyClaims()
    shards = [
        claims.mark(shard)
        for index, root in enumerate(roots)
        for subtree in split_root(root, whole=True, source_index=index)
        for shard in shard_subtree(subtree, "p")
    ]
    no_logs = FileFilter(rules=((EXCLUDE, "*.log"),))

    got = [item for shard in shards for item in walk_shard(shard, "p", no_logs)]

    assert [(type(i).__name__, i.path) for i in got[:2]] == [
        ("LocalFile", f"{one}/a.txt"),
        ("LocalFile", f"{one}/c.txt"),
    ]
    failed, new, *again = got[2:]
    assert isinstance(failed, FileResult) and failed.action is Action.FAILED
    assert failed.path == f"{two}/a.txt"
    assert failed.error == f"key p/a.txt also comes from {one}/a.txt: not uploaded"
    assert isinstance(new, LocalFile) and new.path == f"{two}/d.txt"
    assert [(r.action, r.key) for r in again if isinstance(r, FileResult)] == [
        (Action.SKIPPED, "p/a.txt"),
        (Action.SKIPPED, "p/c.txt"),
    ]
    assert len(again) == 2 and again[0].reason == f"the same file as {one}/a.txt"


class _Labels(PipelineVisitor):  # type: ignore[misc]
    def __init__(self) -> None:
        self.labels: list[str] = []

    def enter_composite_transform(self, node: Any) -> None:
        self.labels.append(node.full_label)

    def visit_transform(self, node: Any) -> None:
        self.labels.append(node.full_label)


def _groups_by_prefix(sources: tuple[str, ...], spread: bool) -> bool:
    config = UploadConfig.for_bucket("bucket", "http://127.0.0.1:9", sources=sources)
    p = beam.Pipeline()
    _ = p | UploadTree(config, "unused-summary.json", spread=spread)
    visitor = _Labels()
    p.visit(visitor)
    return any(label.endswith("/GroupByPrefix") for label in visitor.labels)


def test_only_spread_runs_with_several_roots_group_shards_by_key_prefix() -> None:
    assert _groups_by_prefix(("a", "b"), spread=True)
    assert _groups_by_prefix(("logs/*",), spread=True)
    assert not _groups_by_prefix(("a",), spread=True)
    assert not _groups_by_prefix(("a", "b"), spread=False)  # the one walker claims keys


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_a_key_of_two_sources_uploads_the_first_and_fails_the_second(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    first = make_tree(tmp_path / "z-first", FIRST)
    second = make_tree(tmp_path / "a-second", SECOND)

    result = run_cli(
        "--bucket", bucket, "--prefix", "site", "--json", str(first), str(second), *beam_args
    )  # fmt: skip

    assert result.code == 1, result.stderr
    summary = result.summary
    assert (summary["files"], summary["uploaded"], summary["failed"]) == (7, 5, 2)
    expected = {f"site/{name}": data for name, data in {**SECOND, **FIRST}.items()}
    assert bucket_objects(s3_client, bucket) == expected
    failures = {(f["path"], f["key"], f["error"]) for f in summary["failures"]}
    assert failures == {
        (
            str(second / name),
            f"site/{name}",
            f"key site/{name} also comes from {first / name}: not uploaded",
        )
        for name in ("x/readme.txt", "common.txt")
    }


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_limit_stays_exact_with_a_clash(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    first = make_tree(tmp_path / "z-first", {"b.txt": b"first"})
    second = make_tree(tmp_path / "a-second", {"b.txt": b"second", "c.txt": b"c", "d.txt": b"d"})

    result = run_cli(
        "--bucket", bucket, "--json", "--limit", "2", str(first), str(second), *beam_args
    )  # fmt: skip

    assert result.code == 1, result.stderr
    assert (result.summary["uploaded"], result.summary["failed"]) == (2, 1)
    assert bucket_objects(s3_client, bucket) == {"b.txt": b"first", "c.txt": b"c"}


def test_a_glob_whose_matches_overlap_uploads_each_file_once(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a", "d/b.txt": b"b"})

    # src/** matches src/, src/a.txt, src/d and src/d/b.txt: each file is reached twice or more
    result = run_cli("--bucket", bucket, "--json", f"{tree}/**", *SPREAD)

    assert result.code == 0, result.stderr
    assert (result.summary["uploaded"], result.summary["skipped"]) == (2, 3)
    assert bucket_objects(s3_client, bucket) == {"a.txt": b"a", "d/b.txt": b"b"}


@pytest.mark.parametrize("beam_args", [[], SPREAD], ids=["streamed", "spread"])
def test_one_source_is_uploaded_whole(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path, beam_args: list[str]
) -> None:
    tree = make_tree(tmp_path / "src", {**SECOND, "y/readme.txt": b"y"})

    result = run_cli("--bucket", bucket, "--json", str(tree), *beam_args)

    assert result.code == 0, result.stderr
    assert (result.summary["uploaded"], result.summary["failed"]) == (len(SECOND) + 1, 0)
    assert bucket_objects(s3_client, bucket) == {**SECOND, "y/readme.txt": b"y"}
