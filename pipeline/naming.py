"""Object keys: PREFIX joined with the path relative to the source root, '/'-separated."""

from __future__ import annotations

import os
import posixpath
import re

MAX_KEY_BYTES = 1024
_REWRITTEN = re.compile(r"\\|//")
LAST_CHARACTER = "\U0010ffff"  # the greatest character, in code points as in UTF-8 bytes


def join_prefix(prefix: str, relative: str) -> str:
    """``site`` or ``site/`` with ``a/b.html`` gives ``site/a/b.html``; no prefix, as is."""
    if not prefix:
        return relative
    return prefix if prefix.endswith("/") and not relative else prefix.rstrip("/") + "/" + relative


def directory_of(key: str) -> str:
    """'a/b/c.txt' -> 'a/b/'; 'c.txt' -> ''."""
    return key[: key.rfind("/") + 1]


def key_directory(prefix: str, relative_directory: str) -> str:
    """The key prefix of the files of a directory (relative to the SOURCE, '' for the
    SOURCE itself, '/'-separated): ``site`` with ``a/b`` gives ``site/a/b/``, ``site``
    with '' gives ``site/``, no prefix with '' gives ''."""
    return directory_of(join_prefix(prefix, posixpath.join(relative_directory, "x")))


def relative_key(path: str, root: str) -> str:
    """The path of ``path`` below ``root``, with '/' whatever the OS separator."""
    head = root if root.endswith(os.sep) else root + os.sep
    if path.startswith(head) and root not in ("", "."):
        relative = path[len(head) :]  # the walk's own paths: no need for relpath's work
    else:
        relative = os.path.relpath(path, root)
    if os.sep != "/":
        relative = relative.replace(os.sep, "/")
    return relative


def clean_relative(path: str) -> str | None:
    """A '/'-separated path without its empty and '.' components: './a//b/./c' -> 'a/b/c',
    '/a' -> 'a', '.' -> ''; None when it has a '..' component (it could leave its root)."""
    parts = [part for part in path.split("/") if part not in ("", ".")]
    return None if ".." in parts else "/".join(parts)


def key_below(key: str) -> str:
    """A ListObjectsV2 ``start-after`` for a listing that must include ``key``: strictly
    below it in UTF-8 byte order (S3's order), with hardly any key possible in between.

    ``key`` is a valid key (non-empty UTF-8). Its last character becomes the character
    before it, followed by the greatest character: 'd/b' -> 'd/a\U0010ffff', so that only
    keys starting with that string lie between. When that would be longer than a key may
    be, the key without its last character, which is below it too ('d/' for 'd/b').
    """
    head, last = key[:-1], ord(key[-1])
    if last == 0:
        return head  # nothing lies between 'x' and 'x\0'
    before = 0xD7FF if last == 0xE000 else last - 1  # surrogates are no characters
    below = head + chr(before) + LAST_CHARACTER
    return below if len(below.encode("utf-8")) <= MAX_KEY_BYTES else head


def may_be_rewritten(key: str) -> bool:
    """Whether some server would store ``key`` under another key (``rewritten``);
    ``pipeline.stored_keys`` checks where such a key lands."""
    return _REWRITTEN.search(key) is not None


def rewritten(key: str) -> str:
    """The key such a server (SeaweedFS) stores ``key`` under: '\\' as '/', runs of '/'
    as one."""
    return re.sub("/+", "/", key.replace("\\", "/"))


def key_problem(key: str) -> str | None:
    """Why ``key`` cannot be an S3 key, or None when it can."""
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        return "file name is not valid UTF-8, so it cannot be an S3 key"
    if not encoded:
        return "empty key"
    if len(encoded) > MAX_KEY_BYTES:
        return f"key is {len(encoded)} bytes long; S3 allows at most {MAX_KEY_BYTES}"
    return None


def printable(path: str) -> str:
    """``path`` for a terminal or log: undecodable bytes shown as \\xNN escapes."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
