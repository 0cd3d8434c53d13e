"""Units: walking directories, filters, unreadable directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.records import Action, FileResult, Root
from pipeline.sources.filesystem import resolve_sources
from tests.conftest import walk_tree


def test_walk_is_sorted_and_reports_special_files(tmp_path: Path) -> None:
    import os

    for name in ("b/2.txt", "b/1.txt", "a.txt", "c/d/e.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    os.mkfifo(tmp_path / "fifo")
    os.symlink(tmp_path / "missing", tmp_path / "broken")
    os.symlink(tmp_path / "c", tmp_path / "dirlink")
    items = list(walk_tree(resolve_sources((str(tmp_path),)), "p"))
    files = [item.key for item in items if not isinstance(item, FileResult)]
    skipped = {item.key: item.reason for item in items if isinstance(item, FileResult)}
    assert files == ["p/a.txt", "p/b/1.txt", "p/b/2.txt", "p/c/d/e.txt"]
    assert skipped == {
        "p/broken": "broken symbolic link",
        "p/dirlink": "symbolic link to a directory (use --follow-symlinks)",
        "p/fifo": "not a regular file",
    }
    assert resolve_sources((str(tmp_path / "b" / "*.txt"),))[0] == Root(
        path=str(tmp_path / "b" / "1.txt"), base=str(tmp_path / "b")
    )


def test_filters_last_matching_rule_wins() -> None:
    from pipeline.filters import EXCLUDE, INCLUDE, FileFilter

    rules = FileFilter.build([(EXCLUDE, "*.log"), (INCLUDE, "keep/*")], None)
    assert rules.selects("a.txt", 0)
    assert not rules.selects("x/b.log", 0)
    assert rules.selects("keep/b.log", 0)
    aged = FileFilter.build([], 1)
    assert not aged.selects("a", 0)
    assert aged.selects("a", 4102444800)  # year 2100


def test_an_unreadable_directory_becomes_a_failure_and_the_walk_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root reads every directory, so the refusal is simulated for this narrow unit test.
    import os

    from pipeline.sources import filesystem as source

    for name in ("open/a.txt", "closed/b.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    real_scandir = os.scandir

    def scandir(path: str) -> object:
        if str(path).endswith("closed"):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(source.os, "scandir", scandir)
    items = list(walk_tree(resolve_sources((str(tmp_path),)), ""))
    assert [i.key for i in items if not isinstance(i, FileResult)] == ["open/a.txt"]
    failures = [i for i in items if isinstance(i, FileResult)]
    assert [(f.key, f.action) for f in failures] == [("closed/", Action.FAILED)]
    assert "cannot read directory: Permission denied" in failures[0].error
