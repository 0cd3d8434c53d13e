"""--files-from: how lines are read (normalised, comments, paths listed again), the shards
they become and where each shard's listing starts; then whole runs against the fake S3,
counting the keys their listings return."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from devsupport.fakes3 import SERVER, FakeObject, FakeTransport
from pipeline import Action, UploadConfig
from pipeline.graph import UploadTree
from pipeline.naming import key_below, key_problem, printable
from pipeline.options import PutMode
from pipeline.plan import DEFAULT_RUNNER
from pipeline.records import FileResult
from pipeline.shards import Shard
from pipeline.sources import file_list
from pipeline.sources.file_list import LISTED_AGAIN, shards_of_list
from tests.conftest import FAKE_BUCKET, make_tree


def _named(shards: list[Shard]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(s.key_prefix, s.directory, s.names) for s in shards if s.names]


def _carried(shards: list[Shard]) -> list[tuple[str, str, Action, str]]:
    return [
        (r.path, r.key, r.action, r.reason or r.error)
        for s in shards
        for r in s.carried
        if isinstance(r, FileResult)
    ]


def test_lines_are_normalised_and_comments_and_blank_lines_ignored() -> None:
    lines = ["./a/1\n", "././a//2\r\n", "a/./3\n", "#a/4\n", ";a/5\n", "\n", "./#top\n"]
    got = list(shards_of_list(lines, "/src", "p"))
    assert _named(got) == [("p/", "/src/", ("#top",)), ("p/a/", "/src/a/", ("1", "2", "3"))]
    assert _carried(got) == []


def test_a_line_outside_source_fails_alone_and_source_itself_is_skipped() -> None:
    lines = ["../up\n", "a/../../x\n", "/abs\n", "a\0b\n", ".\n", "./\n", "ok\n"]
    got = list(shards_of_list(lines, "/src", "p"))
    assert _named(got) == [("p/", "/src/", ("ok",))]
    carried = _carried(got)
    assert [(path, action) for path, _, action, _ in carried] == [
        ("../up", Action.FAILED), ("a/../../x", Action.FAILED), ("/abs", Action.FAILED),
        ("a\0b", Action.FAILED), ("/src", Action.SKIPPED), ("/src", Action.SKIPPED),
    ]  # fmt: skip
    assert all("inside SOURCE" in why for _, _, action, why in carried if action is Action.FAILED)


def test_a_path_listed_again_is_skipped_wherever_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_list, "SHARD_FILES", 2)
    lines = ["a/1\n", "a/2\n", "b/x\n", "./a/2\n", "a/3\n", "a//1\n", "b/x\n"]
    got = list(shards_of_list(lines, "/src", ""))
    assert _named(got) == [
        ("a/", "/src/a/", ("1", "2")),
        ("a/", "/src/a/", ("3",)),
        ("b/", "/src/b/", ("x",)),
    ]
    assert sorted(_carried(got)) == [
        ("/src/a/1", "a/1", Action.SKIPPED, LISTED_AGAIN),
        ("/src/a/2", "a/2", Action.SKIPPED, LISTED_AGAIN),
        ("/src/b/x", "b/x", Action.SKIPPED, LISTED_AGAIN),
    ]


def test_the_list_order_does_not_matter_and_a_long_list_is_sorted_in_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(file_list, "SHARD_FILES", 4)
    paths = [f"d{n % 3}/{n:02}" for n in range(28)] + ["d1/01", "top", "d0/cr\rlf", "d2/é"]
    in_order = list(shards_of_list([f"{p}\n" for p in sorted(paths)], "/src", "p"))
    random.Random(7).shuffle(paths)
    monkeypatch.setattr(file_list, "SORT_RUN_LINES", 5)  # seven runs merged from disk

    shuffled = list(shards_of_list([f"{p}\n" for p in paths], "/src", "p"))

    assert shuffled == in_order
    named = [s for s in shuffled if s.names]
    assert [len(s.names) for s in named] == [1, 4, 4, 3, 4, 4, 1, 4, 4, 2]
    for previous, shard in itertools.pairwise(named):
        if previous.key_prefix == shard.key_prefix:  # disjoint key ranges, in order
            assert previous.key_prefix + previous.names[-1] < shard.after
    assert all(s.after == key_below(s.key_prefix + min(s.names)) for s in named)


@pytest.mark.parametrize(
    ("names", "after"),
    [
        (["b", "ab", "a", "a b"], key_below("p/d/a")),  # names that begin others, any order
        (["\U0001f600", "é", "z"], key_below("p/d/z")),
        (["\U0010ffff", "\ue000"], key_below("p/d/\ue000")),
    ],
)
def test_a_shard_lists_from_just_below_its_smallest_key(names: list[str], after: str) -> None:
    (shard,) = shards_of_list([f"d/{name}\n" for name in names], "/src", "p")
    assert shard.after == after and sorted(shard.names) == sorted(names)


def test_a_path_that_can_be_no_key_fails_alone() -> None:
    lines = ["d/\udcff-not-utf8\n", f"d/{'k' * 1024}\n", "d/ok\n"]
    got = list(shards_of_list(lines, "/src", "p"))
    assert _named(got) == [("p/d/", "/src/d/", ("ok",))]
    errors = [(path, why) for path, _, _, why in _carried(got)]
    assert errors[0] == ("/src/d/\udcff-not-utf8", key_problem("\udcff"))
    assert "1028 bytes" in errors[1][1]


@pytest.fixture
def one_big_directory(tmp_path: Path, fake_s3: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Files of one directory, each already in the fake bucket; shards and pages small."""
    monkeypatch.setattr(file_list, "SHARD_FILES", 20)
    SERVER.page_keys = 10
    names = [f"big/{n:04}.txt" for n in range(600)]
    tree = make_tree(tmp_path / "src", dict.fromkeys(names, b""))
    empty = hashlib.md5(b"", usedforsecurity=False).hexdigest()
    for name in names:
        SERVER.buckets[FAKE_BUCKET][name] = FakeObject(b"", empty, 0.0)
    return tree, names


def _run_list(tree: Path, listing: Path, spread: bool) -> list[tuple[str, Action, str]]:
    config = UploadConfig.for_bucket(
        FAKE_BUCKET, "http://127.0.0.1:9", factory=FakeTransport, put=PutMode.ADD,
        sources=(str(tree),), files_from=str(listing),
    )  # fmt: skip
    _RESULTS.clear()
    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        results = p | UploadTree(config, summary_path=None, spread=spread)
        rows = results | beam.Map(lambda r: (printable(r.key), r.action, r.reason or r.error))
        _ = rows | beam.combiners.ToList() | beam.Map(_collect)
    return sorted(_RESULTS, key=lambda row: (row[0], row[1].value))


_RESULTS: list[tuple[str, Action, str]] = []  # what the in-process workers produced


def _collect(rows: list[tuple[str, Action, str]]) -> None:
    _RESULTS.extend(rows)


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_listing_cost_grows_with_the_list_not_with_its_square(
    one_big_directory: Any, tmp_path: Path, order: str, spread: bool
) -> None:
    tree, names = one_big_directory
    if order == "shuffled":  # as `find` lists a big directory
        random.Random(3).shuffle(names)
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"./{name}\n" for name in names))

    results = _run_list(tree, listing, spread)

    assert results == [(name, Action.SKIPPED, "exists") for name in sorted(names)]
    # Each of the 30 shards lists its own 20 keys; from the directory's start, 9,300 keys.
    assert SERVER.keys_listed < 2 * len(names)


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_a_path_listed_twice_far_apart_is_uploaded_once(
    one_big_directory: Any, tmp_path: Path, spread: bool
) -> None:
    tree, names = one_big_directory
    (tree / "big" / "new.txt").write_bytes(b"new")
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"{name}\n" for name in ["big/new.txt", *names, "./big/new.txt"]))

    results = _run_list(tree, listing, spread)

    new = [row for row in results if row[0] == "big/new.txt"]
    assert new == [
        ("big/new.txt", Action.SKIPPED, LISTED_AGAIN),
        ("big/new.txt", Action.UPLOADED, "new"),
    ]
    assert SERVER.count("put") == 1 and SERVER.buckets[FAKE_BUCKET]["big/new.txt"].data == b"new"


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_a_line_that_is_not_utf8_fails_alone(fake_s3: Any, tmp_path: Path, spread: bool) -> None:
    tree = make_tree(tmp_path / "src", {"ok.txt": b"ok"})
    with open(os.path.join(os.fsencode(tree), b"bad\xff.txt"), "wb") as f:
        f.write(b"bad")
    listing = tmp_path / "list.txt"
    listing.write_bytes(b"./bad\xff.txt\n./ok.txt\n")

    results = _run_list(tree, listing, spread)

    assert results == [
        ("bad\\xff.txt", Action.FAILED, key_problem("\udcff")),
        ("ok.txt", Action.UPLOADED, "new"),
    ]
