"""Directory shards: the unit of work that a distributed runner spreads over its workers.

A SOURCE is split in two steps, each of which can run on a different worker:

1. ``split_root``: the first directories of a root are read breadth-first; each becomes
   a ``Subtree`` of its own files, and what lies below them becomes one recursive
   ``Subtree`` each. A small root stays one piece.
2. ``shard_subtree``: a subtree is walked (``os.scandir``, sorted) into ``Shard``s of at
   most ``SHARD_FILES`` entries of one directory, so a huge directory is cut in slices.

A worker then stats the entries of its shard (``walk_shard``), lists the matching part
of the bucket, hashes, decides and uploads. Archives and source buckets are read in one
stream and cut into shards of the files they hold (``batch_carried``).

Two roots (several SOURCEs, or a glob's matches) may hold files of the same key. Only
the first in walk order may upload it: ``KeyClaims`` marks the later shards' names as
``clashes``, which ``walk_shard`` reports as failed (or skipped, when the two paths are
the same file reached twice). A run with one root never needs it.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pipeline.entries import failed, skipped, walk_file
from pipeline.filters import FileFilter
from pipeline.naming import (
    directory_of,
    key_directory,
    may_be_rewritten,
    relative_key,
    rewritten,
)
from pipeline.records import Action, FileResult, LeftOut, LocalFile, Root

SHARD_FILES = 2000  # entries of one directory in a shard
SPLIT_DIRECTORIES = 64  # directories read while splitting a root; the rest go whole
CARRIED_BYTES = 64 * 1024 * 1024  # bytes of archive members that one shard holds


@dataclass(frozen=True)
class Subtree:
    """A directory to cut into shards: its own files, or with everything below it."""

    root: Root
    directory: str
    recursive: bool
    source_index: int = 0  # the position of its SOURCE on the command line


@dataclass(frozen=True)
class Shard:
    """Up to ``SHARD_FILES`` files whose keys share one '/'-delimited key prefix.

    Either ``names`` of entries in a local ``directory`` (stat'ed by the worker that gets
    the shard) or files already read (``carried``: archive members, source objects and
    results such as a directory that could not be read).
    """

    key_prefix: str  # every key of the shard is key_prefix + a name without '/'
    root: Root | None = None
    directory: str = ""
    names: tuple[str, ...] = ()
    after: str = ""  # its listing starts after this key, below its first ('' from the start)
    carried: tuple[LocalFile | FileResult, ...] = ()
    done: tuple[tuple[str, str, int, float], ...] = ()  # (key, source, size, mtime), resume
    source_index: int = 0  # the position of its SOURCE on the command line
    clashes: tuple[tuple[str, str], ...] = ()  # (name, path of the file that has its key)
    left_out: tuple[str, ...] = ()  # keys of carried files that the filters leave out

    def local_keys(self) -> Iterator[str]:
        """Every key that a file of the shard maps to, whether the filters select it or not
        (a name's file is stat'ed and filtered only when the shard is walked), and the key
        a server may store it under instead ('a\\b' as 'a/b': ``naming.rewritten``)."""
        keys = itertools.chain(
            (self.key_prefix + name for name in self.names),
            (item.key for item in self.carried),
            self.left_out,
        )
        for key in keys:
            yield key
            if may_be_rewritten(key):
                yield rewritten(key)


def _is_directory(entry: os.DirEntry[str], follow: bool) -> bool:
    if entry.is_dir(follow_symlinks=False):
        return True
    if not (follow and entry.is_symlink()):
        return False
    try:
        return stat.S_ISDIR(os.stat(entry.path).st_mode)
    except OSError:
        return False


def _read_directory(directory: str, follow: bool) -> tuple[list[str], list[str]]:
    """The sorted names of a directory's files (and other entries), and its subdirectories."""
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda entry: entry.name)
    names, subdirectories = [], []
    for entry in entries:
        if _is_directory(entry, follow):
            subdirectories.append(entry.path)
        else:
            names.append(entry.name)
    return names, subdirectories


def _not_pruned(directories: list[str], root: Root, selected: FileFilter) -> list[str]:
    """The directories that the filter rules do not leave out whole (``FileFilter.prunes``):
    those it does are never read, so an unreadable one cannot fail the run."""
    if not selected.rules:
        return directories
    return [d for d in directories if not selected.prunes(relative_key(d, root.base))]


def split_root(
    root: Root, whole: bool, source_index: int = 0, selected: FileFilter | None = None
) -> Iterator[Subtree]:
    """The subtrees of ``root``: up to SPLIT_DIRECTORIES flat ones, then recursive ones.

    ``whole`` keeps the root one recursive subtree (walked in order by one worker), as
    ``--limit`` and ``--follow-symlinks`` need. ``source_index`` is the position of the
    root's SOURCE on the command line; directories that ``selected`` prunes are left out.
    """
    selected = selected or FileFilter()
    if whole or not os.path.isdir(root.path):
        yield Subtree(root, root.path, recursive=True, source_index=source_index)
        return
    pending = [root.path]
    read = 0
    while pending and read < SPLIT_DIRECTORIES:
        directory = pending.pop(0)
        read += 1
        yield Subtree(root, directory, recursive=False, source_index=source_index)
        try:
            subdirectories = _read_directory(directory, follow=False)[1]
            pending.extend(_not_pruned(subdirectories, root, selected))
        except OSError:
            continue  # the worker that reads its files reports the error
    for directory in pending:
        yield Subtree(root, directory, recursive=True, source_index=source_index)


def _key_prefix(root: Root, prefix: str, directory: str) -> str:
    return key_directory(
        prefix, directory_of(relative_key(os.path.join(directory, "x"), root.base))
    )


def shard_subtree(
    subtree: Subtree, prefix: str, follow: bool = False, selected: FileFilter | None = None
) -> Iterator[Shard]:
    """The shards of a subtree, directory by directory in sorted (depth-first) order;
    directories that ``selected`` prunes are not read."""
    selected = selected or FileFilter()
    root, index = subtree.root, subtree.source_index
    if not os.path.isdir(subtree.directory):  # a SOURCE that is a file
        directory, name = os.path.split(subtree.directory)
        key_prefix = _key_prefix(root, prefix, directory)
        yield Shard(key_prefix, root, directory, (name,), source_index=index)
        return
    walked: set[tuple[int, int]] = set()  # (device, inode) of each directory walked
    pending = [subtree.directory]
    while pending:
        directory = pending.pop()
        key_prefix = _key_prefix(root, prefix, directory)
        try:
            st = os.stat(directory)
            names, subdirectories = _read_directory(directory, follow)
        except OSError as e:
            error = failed(directory, key_prefix, f"cannot read directory: {e.strerror}")
            error = dataclasses.replace(error, walk_incomplete=True)
            yield Shard(key_prefix, carried=(error,))
            continue
        if (st.st_dev, st.st_ino) in walked:
            loop = skipped(directory, key_prefix, "symbolic link loop (directory already walked)")
            yield Shard(key_prefix, carried=(loop,))
            continue
        walked.add((st.st_dev, st.st_ino))
        for start in range(0, len(names), SHARD_FILES):
            after = key_prefix + names[start - 1] if start else ""
            names_slice = tuple(names[start : start + SHARD_FILES])
            yield Shard(key_prefix, root, directory, names_slice, after, source_index=index)
        if subtree.recursive:
            pending.extend(reversed(_not_pruned(subdirectories, root, selected)))


def walk_shard(shard: Shard, prefix: str, selected: FileFilter) -> Iterator[LocalFile | FileResult]:
    """The files of a shard (stat'ed now), and the results it carries."""
    yield from shard.carried
    if shard.root is None:
        return
    base = shard.root.base
    clashes = dict(shard.clashes)
    for name in shard.names:
        items = walk_file(os.path.join(shard.directory, name), base, prefix, selected)
        yield from (_key_taken(items, clashes[name]) if name in clashes else items)


def _key_taken(
    items: Iterable[LocalFile | FileResult], first: str
) -> Iterator[LocalFile | FileResult]:
    """A file whose key the file at ``first`` has: failed, or skipped when it is that same
    file reached twice (overlapping roots); what would not be uploaded stays as it is."""
    for item in items:
        if not isinstance(item, LocalFile):
            yield item
        elif _same_file(item.path, first):
            yield FileResult.of(item, Action.SKIPPED, reason=f"the same file as {first}")
        else:
            error = f"key {item.key} also comes from {first}: not uploaded"
            yield FileResult.of(item, Action.FAILED, error=error)


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:
        return False


class KeyClaims:
    """The keys of the shards marked so far, each claimed by the first file listed with it.

    Mark shards in walk order (command-line order of the SOURCEs): the names of a shard
    whose keys earlier shards claimed become its ``clashes``. A name claims its key when
    it is listed, whatever the worker's stat then finds. Carried files (archive members,
    objects of a source bucket, results) are not checked: their shards pass as they are.
    """

    def __init__(self) -> None:
        self._claimed: dict[str, dict[str, str]] = {}  # key prefix -> name -> directory

    def mark(self, shard: Shard) -> Shard:
        if shard.root is None:
            return shard
        claimed = self._claimed.setdefault(shard.key_prefix, {})
        clashes = []
        for name in shard.names:
            if name in claimed:
                clashes.append((name, os.path.join(claimed[name], name)))
            else:
                claimed[name] = shard.directory
        return dataclasses.replace(shard, clashes=tuple(clashes)) if clashes else shard


def mark_clashes(group: Iterable[Shard]) -> Iterator[Shard]:
    """The shards of one key prefix, from any roots and in any order, with their clashes
    marked: the first SOURCE on the command line claims a key first; the matches of one
    glob (and SOURCEs given in no order) in the order of their paths."""

    def walk_order(shard: Shard) -> tuple[int, str, str]:
        return shard.source_index, shard.root.path if shard.root else "", shard.after

    claims = KeyClaims()
    for shard in sorted(group, key=walk_order):
        yield claims.mark(shard)


def batch_carried(items: Iterable[LocalFile | FileResult | LeftOut]) -> Iterator[Shard]:
    """Files read in one stream (archive members, source objects) as shards.

    A shard holds consecutive files of one key directory, at most SHARD_FILES of them
    and at most CARRIED_BYTES of member bytes; the keys of files the filters left out
    travel with it (``Shard.left_out``).
    """
    batch: list[LocalFile | FileResult] = []
    left_out: list[str] = []
    key_prefix, held = "", 0
    for item in items:
        item_prefix = directory_of(item.key)
        size = len(item.data) if isinstance(item, LocalFile) and item.data else 0
        full = len(batch) + len(left_out) >= SHARD_FILES or held + size > CARRIED_BYTES
        if (batch or left_out) and (item_prefix != key_prefix or full):
            yield Shard(key_prefix, carried=tuple(batch), left_out=tuple(left_out))
            batch, left_out, held = [], [], 0
        key_prefix = item_prefix
        if isinstance(item, LeftOut):
            left_out.append(item.key)
        else:
            batch.append(item)
        held += size
    if batch or left_out:
        yield Shard(key_prefix, carried=tuple(batch), left_out=tuple(left_out))
