"""Object keys: PREFIX joined with the path relative to the source root, '/'-separated."""

from __future__ import annotations

import os

MAX_KEY_BYTES = 1024


def join_prefix(prefix: str, relative: str) -> str:
    """``site`` or ``site/`` with ``a/b.html`` gives ``site/a/b.html``; no prefix, as is."""
    if not prefix:
        return relative
    return prefix if prefix.endswith("/") and not relative else prefix.rstrip("/") + "/" + relative


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
