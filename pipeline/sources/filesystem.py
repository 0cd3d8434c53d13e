"""SOURCEs on the local file system (directories, single files, globs).

Directories are read with ``os.scandir`` in sorted order, so a run is deterministic and
``--limit`` takes the same files every time. Directory symlinks are not followed; what is
not a regular file is reported, never opened (a FIFO would hang the run).
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator

from pipeline.errors import UsageError
from pipeline.records import Root
from pipeline.shards import Shard, Subtree, split_root
from pipeline.sources.base import Source, SplitContext

_LOGGER = logging.getLogger(__name__)


def _glob_base(pattern: str) -> str:
    """The directory above the first component of ``pattern`` that holds a wildcard."""
    parts = pattern.split(os.sep)
    fixed = []
    for part in parts[:-1]:
        if glob.has_magic(part):
            break
        fixed.append(part)
    base = os.sep.join(fixed)
    return base or ("/" if pattern.startswith(os.sep) else ".")


def _is_glob(source: str) -> bool:
    """A SOURCE with wildcards that names no path as it is."""
    return glob.has_magic(source) and not os.path.lexists(source)


def resolve_sources(sources: tuple[str, ...]) -> tuple[Root, ...]:
    """Check each SOURCE and say what to walk; a missing SOURCE is a usage error."""
    roots: list[Root] = []
    for source in sources:
        if _is_glob(source):
            matches = sorted(glob.glob(source, recursive=True))
            if not matches:
                raise UsageError(f"SOURCE {source!r} matches no file")
            base = _glob_base(source)
            roots.extend(Root(path=match, base=base) for match in matches)
        elif os.path.isdir(source):
            roots.append(Root(path=source, base=source))
        elif os.path.exists(source):
            roots.append(Root(path=source, base=os.path.dirname(source) or "."))
        elif os.path.lexists(source):
            raise UsageError(f"SOURCE {source!r} is a broken symbolic link")
        else:
            raise UsageError(f"SOURCE {source!r} does not exist")
    return tuple(roots)


def check_mirrorable(sources: tuple[str, ...]) -> None:
    """--delete mirrors directories: a glob or a file names only part of a tree, and the
    rest of its prefix would look stale. A UsageError names the way to mirror part of one."""
    for source in sources:
        if _is_glob(source):
            what = "a glob"
        elif os.path.exists(source) and not os.path.isdir(source):
            what = "a file"
        else:
            continue  # a directory (or missing: resolving it says so)
        raise UsageError(
            f"--delete mirrors directories, and SOURCE {source!r} is {what}: give the "
            "directory and choose its files with --include/--exclude"
        )


class FilesystemSource(Source):
    """Directories are split into subtrees (``pipeline.shards``), walked where they land."""

    def resolve(self, texts: tuple[str, ...]) -> tuple[Root, ...]:
        return resolve_sources(texts)

    def split(self, roots: tuple[Root, ...], context: SplitContext) -> Iterator[Subtree | Shard]:
        # --limit takes the first files in walk order, and following links needs one
        # walker per root to see each directory once: then a root stays whole.
        whole = context.options.limit is not None or context.options.follow_symlinks
        for root in roots:
            yield from split_root(root, whole, context.position, context.options.file_filter)
