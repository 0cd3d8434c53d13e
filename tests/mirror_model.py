"""The reference model of one run's put/delete decision, for the property tests.

``expected_run`` is a small pure function: given the local files, what the bucket held
before, the command's options and the time of the run, it says what the bucket holds
after ``python -m pipeline``, its exit code and its summary counts. It is written from
what the tool promises (README: Options; DESIGN: what a destructive step must never do),
not from its code, and shares none of it.

- A file's key is PREFIX joined with its path relative to its SOURCE ('site' and 'site/'
  alike; no prefix: the path alone). Of two SOURCEs' files with one key, the first
  SOURCE's has it, and the other fails when it is selected (a file the filters leave out
  is not part of the run).
- A file is selected when it is not older than the age limit and the include/exclude
  rules select its path (fnmatch, last matching rule wins, included by default).
- Selected files are uploaded as --put says: stupid always; add when the key is absent;
  update when absent or different as --compare says (checksum: the bytes; size: the
  size; size-mtime: the size, or the file is newer than the object's LastModified).
- --delete: the objects under the prefix's directory ('site' -> 'site/'; no prefix: the
  whole bucket) that are no folder marker (a key ending in '/'), that no local file maps
  to (selected or not), that the rules select (on the key's path below the prefix
  directory) and that are not older than the age limit, are stale. All are deleted,
  or none when there are more than --max-delete (exit 1).
- --dry-run changes nothing.
- ``rewrites_backslash``: the server (SeaweedFS) stores a key with '\\' under the key
  with '/' instead. A selected file with a '\\' in its key fails and is not uploaded (a
  dry run, which writes nothing, sees that only when the '/' key holds an object).
  On any server, neither the key of a file with a '\\' nor the key with '/' instead is
  stale (the tool cannot tell beforehand which servers rewrite).
- Exit code 0 when nothing failed and no deletion was withheld; 1 otherwise.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

DAY_S = 86400.0
INCLUDE, EXCLUDE = "include", "exclude"


@dataclass(frozen=True)
class LocalFile:
    source: int  # the position of its SOURCE on the command line
    path: str  # relative to its SOURCE, '/'-separated
    data: bytes
    mtime: float


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    mtime: float  # LastModified, epoch seconds


@dataclass(frozen=True)
class Command:
    """The options of one run that the model knows (the values are the CLI's)."""

    prefix: str = ""
    put: str = "update"  # add | update | stupid
    compare: str = "checksum"  # checksum | size | size-mtime
    delete: bool = False
    max_delete: int | None = None
    dry_run: bool = False
    rules: tuple[tuple[str, str], ...] = ()  # (INCLUDE | EXCLUDE, pattern), in order
    older_than_days: float | None = None


@dataclass(frozen=True)
class Expected:
    bucket: dict[str, StoredObject]
    exit_code: int
    counts: dict[str, int]  # the summary's fields (see ``COUNTED``)
    uploads: frozenset[str] = field(default_factory=frozenset)  # keys (would be) uploaded
    stale: frozenset[str] = field(default_factory=frozenset)  # keys (would be) deleted
    failed: frozenset[tuple[int, str]] = field(default_factory=frozenset)  # (source, path)
    rewritten: frozenset[str] = field(default_factory=frozenset)  # keys failed for a '\\'


COUNTED = (
    "files", "uploaded", "would_upload", "skipped", "failed", "deleted", "would_delete",
    "deletes_withheld",
)  # fmt: skip


def key_of(prefix: str, path: str) -> str:
    return path if not prefix else prefix.rstrip("/") + "/" + path


def prefix_directory(prefix: str) -> str:
    """Where the keys of a run lie: 'site' and 'site/' -> 'site/'; '' -> '' (everything)."""
    return prefix.rstrip("/") + "/" if prefix else ""


def rules_select(rules: Iterable[tuple[str, str]], path: str) -> bool:
    selected = True
    for kind, pattern in rules:
        if fnmatch.fnmatchcase(path, pattern):
            selected = kind == INCLUDE
    return selected


def _wanted(command: Command, file: LocalFile, stored: StoredObject | None) -> bool:
    """Whether a selected file is uploaded over what its key holds."""
    if command.put == "stupid" or stored is None:
        return True
    if command.put == "add":
        return False
    if len(stored.data) != len(file.data):
        return True
    if command.compare == "size":
        return False
    if command.compare == "size-mtime":
        return file.mtime > stored.mtime
    return file.data != stored.data


def expected_run(
    files: Iterable[LocalFile],
    bucket: Mapping[str, StoredObject],
    command: Command,
    now: float,
    rewrites_backslash: bool = False,
) -> Expected:
    """What a run of ``command`` over ``files`` into ``bucket`` at time ``now`` leaves."""
    files = sorted(files, key=lambda file: file.source)
    cutoff = None if command.older_than_days is None else now - command.older_than_days * DAY_S

    def is_recent(mtime: float) -> bool:
        return cutoff is None or mtime >= cutoff

    owners: dict[str, LocalFile] = {}  # key -> the first SOURCE's file with it
    selected, failed, rewritten, uploads = 0, set(), set(), {}
    for file in files:
        key = key_of(command.prefix, file.path)
        owner = owners.setdefault(key, file)
        if not (is_recent(file.mtime) and rules_select(command.rules, file.path)):
            continue
        selected += 1
        if owner.source != file.source:
            failed.add((file.source, file.path))
        elif (
            rewrites_backslash
            and "\\" in key
            and not (command.dry_run and key.replace("\\", "/") not in bucket)
        ):  # a dry run sees it fail only when the key it would land on holds an object
            failed.add((file.source, file.path))
            rewritten.add(key)
        elif _wanted(command, file, bucket.get(key)):
            uploads[key] = file

    # The tool cannot tell beforehand whether the server rewrites: on any server, a file
    # keeps the key it may be stored under too.
    mapped = set(owners) | {key.replace("\\", "/") for key in owners}
    directory = prefix_directory(command.prefix)
    stale = {
        key
        for key, stored in bucket.items()
        if command.delete
        and key.startswith(directory)
        and not key.endswith("/")
        and key not in mapped
        and rules_select(command.rules, key[len(directory) :])
        and is_recent(stored.mtime)
    }
    withheld = command.max_delete is not None and len(stale) > command.max_delete

    after = dict(bucket)
    if not command.dry_run:
        after.update({key: StoredObject(file.data, now) for key, file in uploads.items()})
        if not withheld:
            for key in stale:
                del after[key]
    deleted = 0 if withheld else len(stale)
    counts = {
        "files": selected,
        "uploaded": 0 if command.dry_run else len(uploads),
        "would_upload": len(uploads) if command.dry_run else 0,
        "skipped": selected - len(failed) - len(uploads),
        "failed": len(failed),
        "deleted": 0 if command.dry_run else deleted,
        "would_delete": deleted if command.dry_run else 0,
        "deletes_withheld": len(stale) if withheld else 0,
    }
    return Expected(
        bucket=after,
        exit_code=1 if failed or withheld else 0,
        counts=counts,
        uploads=frozenset(uploads),
        stale=frozenset(stale),
        failed=frozenset(failed),
        rewritten=frozenset(rewritten),
    )
