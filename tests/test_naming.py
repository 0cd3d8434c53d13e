"""Units: keys from paths, and the names that cannot be keys."""

from __future__ import annotations

import pytest

from pipeline.naming import join_prefix, key_problem, relative_key


@pytest.mark.parametrize(
    ("prefix", "relative", "key"),
    [
        ("", "a/b.txt", "a/b.txt"),
        ("site", "a/b.txt", "site/a/b.txt"),
        ("site/", "a/b.txt", "site/a/b.txt"),
        ("site//", "x", "site/x"),
        ("a b/é", "c d.txt", "a b/é/c d.txt"),
    ],
)
def test_join_prefix(prefix: str, relative: str, key: str) -> None:
    assert join_prefix(prefix, relative) == key


def test_relative_key_uses_slashes() -> None:
    assert relative_key("/src/a/b/c.txt", "/src") == "a/b/c.txt"
    assert relative_key("/src/c.txt", "/src/") == "c.txt"


def test_key_problems() -> None:
    assert key_problem("ok/name with spaces é+%#?.txt") is None
    assert "1024" in (key_problem("k" * 1025) or "")
    assert key_problem("k" * 1024) is None
    assert "UTF-8" in (key_problem("bad-\udcff-name") or "")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a.txt", "a.txt"),
        ("./d/b.txt", "d/b.txt"),
        ("/etc/passwd", "etc/passwd"),
        ("d//e/./f", "d/e/f"),
        ("../evil", None),
        ("d/../../evil", None),
        ("..", None),
        ("./", None),
    ],
)
def test_member_key_names_never_escape(name: str, key: str | None) -> None:
    from pipeline.sources.tar import member_key_name

    assert member_key_name(name) == key
