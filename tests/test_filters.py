"""FileFilter: which paths the rules select, and which directories they leave out whole."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.filters import EXCLUDE, INCLUDE, FileFilter


@pytest.mark.parametrize(
    ("rules", "directory", "pruned"),
    [
        ([(EXCLUDE, "locked/*")], "locked", True),
        ([(EXCLUDE, "locked/**")], "locked", True),
        ([(EXCLUDE, "lock*")], "locked", True),
        ([(EXCLUDE, "*")], "any/deep", True),
        ([(EXCLUDE, "locked/*")], "locked/deeper", True),
        ([(EXCLUDE, "locked/*")], "lockedx", False),
        ([(EXCLUDE, "locked")], "locked", False),  # the name alone: a file of that name
        ([(EXCLUDE, "*.tmp")], "locked", False),
        ([(EXCLUDE, "locked/*.tmp")], "locked", False),
        ([(EXCLUDE, "locked/*"), (INCLUDE, "locked/keep/*")], "locked", False),
        ([(EXCLUDE, "locked/*"), (INCLUDE, "*.txt")], "locked", False),
        ([(EXCLUDE, "locked/*"), (INCLUDE, "other/*")], "locked", True),
        ([(INCLUDE, "locked/a"), (EXCLUDE, "locked/*")], "locked", True),
        ([(EXCLUDE, "*"), (INCLUDE, "l*"), (EXCLUDE, "locked/*")], "locked", True),
        ([], "locked", False),
    ],
)
def test_a_directory_is_pruned_only_when_every_path_below_is_left_out(
    rules: list[tuple[str, str]], directory: str, pruned: bool
) -> None:
    assert FileFilter(rules=tuple(rules)).prunes(directory) is pruned


_names = st.sampled_from(["a", "b", "ab", "a.txt", "x y", "é", "[x]", "locked"])
_patterns = st.sampled_from(
    ["*", "a*", "a/*", "a/b/*", "*.txt", "a", "a/b", "ab/*", "locked/*", "lock*", "[x]/*", "*/b"]
)


@given(
    rules=st.lists(st.tuples(st.sampled_from([INCLUDE, EXCLUDE]), _patterns), max_size=4),
    directory=st.lists(_names, min_size=1, max_size=3).map("/".join),
    below=st.lists(_names, min_size=1, max_size=3).map("/".join),
)
def test_no_path_below_a_pruned_directory_is_selected(
    rules: list[tuple[str, str]], directory: str, below: str
) -> None:
    selected = FileFilter(rules=tuple(rules))
    if selected.prunes(directory):
        assert not selected.selects(f"{directory}/{below}", 0.0)
