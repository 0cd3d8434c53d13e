"""One directory entry on its way to the put decision: a file to upload (stat, links,
filters) or the result of one that is skipped or cannot be read."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator

from pipeline.filters import FileFilter
from pipeline.naming import join_prefix, printable, relative_key
from pipeline.records import Action, FileResult, LocalFile

_LOGGER = logging.getLogger(__name__)


def skipped(path: str, key: str, reason: str) -> FileResult:
    _LOGGER.warning("skipping %s: %s", printable(path), reason)
    return FileResult(path=path, key=key, action=Action.SKIPPED, reason=reason)


def failed(path: str, key: str, error: str) -> FileResult:
    return FileResult(path=path, key=key, action=Action.FAILED, error=error)


def read_error(path: str, error: OSError | None = None) -> str:
    """'cannot read: <the OS's words>' for a local file that cannot be read, or ''.

    Per-file lines put the path first: "failed: PATH: cannot read: Permission denied".

    Without ``error`` the file is opened to find out (only after something failed).
    """
    if error is None:
        try:
            with open(path, "rb"):
                return ""
        except OSError as e:
            error = e
    return f"cannot read: {error.strerror or error}"


def walk_file(
    path: str, base: str, prefix: str, selected: FileFilter
) -> Iterator[LocalFile | FileResult]:
    relative = relative_key(path, base)
    key = join_prefix(prefix, relative)
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            yield skipped(path, key, "symbolic link loop")
        elif os.path.islink(path):
            yield skipped(path, key, "broken symbolic link")
        else:
            yield failed(path, key, f"cannot stat: {e.strerror}")
        return
    if selected.active and not selected.selects(relative, st.st_mtime):
        return
    if stat.S_ISDIR(st.st_mode) and os.path.islink(path):
        yield skipped(path, key, "symbolic link to a directory (use --follow-symlinks)")
    elif stat.S_ISDIR(st.st_mode):
        yield skipped(path, key, "a directory, not a file")
    elif not stat.S_ISREG(st.st_mode):
        yield skipped(path, key, "not a regular file")
    else:
        yield LocalFile(path=path, key=key, size=st.st_size, mtime=st.st_mtime)
