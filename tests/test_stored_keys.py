"""Keys a server stores under another key (SeaweedFS: '\\' as '/'): the file fails,
naming both keys; no other object is overwritten, and nothing churns under --delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from apache_beam.testing.test_pipeline import TestPipeline

from devsupport.fakes3 import SERVER, FakeObject, FakeTransport
from pipeline import UploadConfig, UploadTree
from pipeline.naming import may_be_rewritten, rewritten
from pipeline.options import PutMode
from pipeline.plan import DEFAULT_RUNNER
from tests.conftest import FAKE_BUCKET, make_tree

pytestmark = pytest.mark.usefixtures("fake_s3")


def test_which_keys_a_server_may_rewrite() -> None:
    assert may_be_rewritten("a\\b") and may_be_rewritten("a//b")
    assert not may_be_rewritten("a/b c.txt") and not may_be_rewritten("é/x")
    assert rewritten("p/back\\slash.txt") == "p/back/slash.txt"
    assert rewritten("a//b\\\\c") == "a/b/c"


def _run(tmp_path: Path, tree: Path, spread: bool = False, **fields: Any) -> dict[str, Any]:
    config = UploadConfig.for_bucket(
        FAKE_BUCKET, "http://127.0.0.1:9", factory=FakeTransport, prefix="spec",
        sources=(str(tree),), checksum_cache=None, **fields,
    )  # fmt: skip
    summary = tmp_path / "summary.json"
    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        _ = p | UploadTree(config, str(summary), spread=spread)
    return dict(json.loads(summary.read_text()))


def _objects() -> dict[str, bytes]:
    return {key: stored.data for key, stored in SERVER.buckets[FAKE_BUCKET].items()}


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_a_key_stored_elsewhere_fails_and_nothing_churns(tmp_path: Path, spread: bool) -> None:
    SERVER.rewrite_keys = True
    tree = make_tree(tmp_path / "t", {"d/back\\slash.txt": b"b", "d/plain.txt": b"p"})
    SERVER.buckets[FAKE_BUCKET]["spec/d/gone.txt"] = FakeObject(b"g", "g", 0.0)

    for _ in range(2):  # a second run does the same, and still deletes nothing it stored
        summary = _run(tmp_path, tree, spread, delete=True)

        assert _objects() == {"spec/d/plain.txt": b"p"}
        assert (summary["failed"], summary["deleted"]) == (1, 1 if _ == 0 else 0)
        (failure,) = summary["failures"]
        assert "'spec/d/back\\\\slash.txt' as 'spec/d/back/slash.txt'" in failure["error"]
        assert "removed again" in failure["error"]


def test_a_key_that_names_another_object_is_not_uploaded(tmp_path: Path) -> None:
    SERVER.rewrite_keys = True
    tree = make_tree(tmp_path / "t", {"back\\slash.txt": b"mine"})
    SERVER.buckets[FAKE_BUCKET]["spec/back/slash.txt"] = FakeObject(b"theirs", "t", 0.0)

    summary = _run(tmp_path, tree, put=PutMode.STUPID)

    assert _objects() == {"spec/back/slash.txt": b"theirs"}
    (failure,) = summary["failures"]
    assert "not uploaded, so that object is not overwritten" in failure["error"]


def test_a_server_that_keeps_the_key_stores_it(tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t", {"back\\slash.txt": b"mine", "back/slash.txt": b"theirs"})

    summary = _run(tmp_path, tree, delete=True)

    assert _objects() == {"spec/back\\slash.txt": b"mine", "spec/back/slash.txt": b"theirs"}
    assert (summary["uploaded"], summary["failed"]) == (2, 0)


def test_an_object_stored_under_the_rewritten_key_meanwhile_is_not_overwritten(
    tmp_path: Path,
) -> None:
    """Even under --put stupid: the check before found nothing there, so the write must
    find nothing either."""
    SERVER.rewrite_keys = True
    tree = make_tree(tmp_path / "t", {"back\\slash.txt": b"mine"})

    def another_writer(request: Any) -> None:
        SERVER.buckets[FAKE_BUCKET]["spec/back/slash.txt"] = FakeObject(b"theirs", "t", 0.0)

    SERVER.on_put = another_writer
    summary = _run(tmp_path, tree, put=PutMode.STUPID)

    assert _objects() == {"spec/back/slash.txt": b"theirs"}
    assert (summary["failed"], summary["uploaded"]) == (1, 0)
    assert "appeared meanwhile" in summary["failures"][0]["error"]


@pytest.mark.parametrize("rewrites", [True, False], ids=["rewriting-server", "plain-server"])
def test_delete_keeps_the_key_a_file_may_be_stored_under(tmp_path: Path, rewrites: bool) -> None:
    """Whether or not this server rewrites '\\', the object under 'x/y' may be what it made
    of the file 'x\\y': --delete keeps it."""
    SERVER.rewrite_keys = rewrites
    tree = make_tree(tmp_path / "t", {"x\\y": b"mine"})
    SERVER.buckets[FAKE_BUCKET]["spec/x/y"] = FakeObject(b"earlier", "e", 0.0)

    summary = _run(tmp_path, tree, delete=True)

    assert "spec/x/y" in _objects() and summary["deleted"] == 0
