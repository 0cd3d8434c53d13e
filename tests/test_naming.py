"""Units: keys from paths, and the names that cannot be keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.naming import (
    LAST_CHARACTER,
    MAX_KEY_BYTES,
    clean_relative,
    join_prefix,
    key_below,
    key_directory,
    key_problem,
    relative_key,
)


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


@pytest.mark.parametrize(
    ("path", "clean"),
    [
        ("a.txt", "a.txt"),
        ("./a.txt", "a.txt"),
        ("././d//./e/", "d/e"),
        ("/abs/x", "abs/x"),
        (".", ""),
        ("./", ""),
        ("d/../x", None),
        ("..", None),
        ("..a/b..", "..a/b.."),  # dots inside names are names
    ],
)
def test_clean_relative_drops_dot_and_empty_components(path: str, clean: str | None) -> None:
    assert clean_relative(path) == clean


@pytest.mark.parametrize(
    ("key", "below"),
    [
        ("d/b", "d/a\U0010ffff"),
        ("d/a", "d/`\U0010ffff"),
        ("b", "a\U0010ffff"),  # one character
        ("d/é", "d/è\U0010ffff"),
        ("d/\U0001f600", "d/\U0001f5ff\U0010ffff"),  # four UTF-8 bytes
        ("d/\ue000", "d/\ud7ff\U0010ffff"),  # the character before it skips the surrogates
        ("d/\U0010ffff", "d/\U0010fffe\U0010ffff"),
        ("d/x\x00", "d/x"),  # nothing lies between
        ("k" * MAX_KEY_BYTES, "k" * (MAX_KEY_BYTES - 1)),  # no longer than a key may be
    ],
)
def test_key_below(key: str, below: str) -> None:
    assert key_below(key) == below


_CHARACTERS = st.characters(blacklist_categories=("Cs",))  # what UTF-8 can encode
_KEYS = st.text(_CHARACTERS, min_size=1, max_size=12)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


@given(key=_KEYS, tail=st.text(_CHARACTERS, max_size=4), cut=st.integers(0, 12))
def test_only_keys_holding_the_last_character_lie_between_key_below_and_the_key(
    key: str, tail: str, cut: int
) -> None:
    below = key_below(key)
    assert _utf8(below) < _utf8(key)
    other = key[:cut] + tail  # near the key: shares a part of it
    if _utf8(below) < _utf8(other) < _utf8(key):
        assert other.startswith(below) and LAST_CHARACTER in other  # a noncharacter


@given(names=st.lists(_KEYS, min_size=1, max_size=8), others=st.lists(_KEYS, max_size=30))
def test_a_listing_after_key_below_the_smallest_name_finds_every_name(
    names: list[str], others: list[str]
) -> None:
    """As S3 lists: the keys after ``start-after`` in UTF-8 byte order, page by page, until
    a page reaches the last key wanted."""
    bucket = sorted({*names, *others}, key=_utf8)
    after, until = key_below(min(names, key=_utf8)), max(names, key=_utf8)
    pages = [key for key in bucket if _utf8(key) > _utf8(after)]
    listed = []
    for start in range(0, len(pages), 3):
        listed += pages[start : start + 3]
        if _utf8(listed[-1]) >= _utf8(until):
            break
    assert set(names) <= set(listed)


@pytest.mark.parametrize(
    ("prefix", "directory", "expected"),
    [
        ("", "", ""),
        ("site", "", "site/"),
        ("site/", "", "site/"),
        ("site", "a/b", "site/a/b/"),
        ("site/", "a/b/", "site/a/b/"),
        ("", "a", "a/"),
    ],
)
def test_the_key_directory_of_a_directory_below_the_source(
    prefix: str, directory: str, expected: str
) -> None:
    assert key_directory(prefix, directory) == expected
