"""The generators and the properties shared by the two tiers of the mirror property tests
(``test_mirror_properties.py`` on the in-memory fake, ``test_mirror_properties_e2e.py``
with the real CLI against SeaweedFS); the model they are checked against is
``tests/mirror_model.py``.

A ``Scenario`` is one run: local files under one or two SOURCE directories, what the
bucket holds before (objects equal to a file, different, the same size with other bytes,
stale ones, folder markers, keys around the prefix), and the command's options. Ages are
names (``"old"``), turned into times when the scenario is written out, so a shrunk
example reads well and replays the same at any time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from hypothesis import example
from hypothesis import strategies as st

from tests.mirror_model import (
    DAY_S,
    EXCLUDE,
    INCLUDE,
    Command,
    Expected,
    LocalFile,
    StoredObject,
    key_of,
    prefix_directory,
)

Snapshot = dict[str, bytes]  # a bucket's keys and bytes

# Names that share prefixes ('a', 'a.txt', 'ab', 'a b'), with spaces, non-ASCII, a backslash.
FILE_NAMES = ("a", "a.txt", "ab", "a b", "b.log", "\u00fc.txt", "\u65e5\u672c", "x\\y")
DIRECTORY_NAMES = ("sub", "a", "a b", "\u00fc")
PREFIXES = ("site", "", "site/", "a/b")
# Keys near a prefix that are not under it: a run must never touch them.
AROUND = {
    "site": ("site2/x", "site.bak", "sitex", "site", "other/x"),
    "site/": ("site2/x", "site.bak", "sitex", "site", "other/x"),
    "a/b": ("a/bc", "a/b.bak", "a/b", "a/x", "b/x"),
    "": (),  # everything is under no prefix
}
PATTERNS = ("*.txt", "sub/*", "a*", "*", "a b", "*.log", "*/*", "\u00fc*", "x\\y")
FILE_AGES = {"recent": -3600.0, "old": -30 * DAY_S, "future": 3600.0}  # seconds from now
OBJECT_AGES = {"minutes": -600.0, "hours": -2 * 3600.0, "old": -40 * DAY_S}
# What the bucket holds at a local file's key before the run.
OBJECT_KINDS = ("absent", "equal", "same size", "other size")
AGE_LIMIT_DAYS = 7.0


@dataclass(frozen=True)
class FileSeed:
    source: int  # 0 or 1: which SOURCE directory
    path: str  # relative to it, '/'-separated
    data: bytes
    age: str  # a key of FILE_AGES


@dataclass(frozen=True)
class ObjectSeed:
    key: str
    data: bytes
    age: str  # a key of OBJECT_AGES (the fake only: a real server stamps its own time)


@dataclass(frozen=True)
class Scenario:
    command: Command
    sources: int  # how many SOURCE directories (1 or 2)
    files: tuple[FileSeed, ...]
    objects: tuple[ObjectSeed, ...]
    spread: bool = False  # the distributed graph (Reshuffles) rather than one stream

    def local_files(self, now: float) -> list[LocalFile]:
        return [
            LocalFile(seed.source, seed.path, seed.data, now + FILE_AGES[seed.age])
            for seed in self.files
        ]

    def bucket(self, now: float) -> dict[str, StoredObject]:
        return {
            seed.key: StoredObject(seed.data, now + OBJECT_AGES[seed.age]) for seed in self.objects
        }

    def write_sources(self, root: Path, now: float) -> list[str]:
        """The SOURCE directories, written under ``root`` with their files and mtimes."""
        sources = [root / name for name in ("one", "two")[: self.sources]]
        for source in sources:
            source.mkdir(parents=True)
        for file in self.local_files(now):
            path = sources[file.source] / file.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(file.data)
            os.utime(path, (file.mtime, file.mtime))
        return [str(source) for source in sources]


relative_paths = st.builds(
    lambda directories, name: "/".join([*directories, name]),
    st.lists(st.sampled_from(DIRECTORY_NAMES), max_size=2),
    st.sampled_from(FILE_NAMES),
)
bodies = st.binary(max_size=6)


def _one_tree_each(files: Iterable[FileSeed]) -> tuple[FileSeed, ...]:
    """The files that can be on disk together: in each SOURCE, a path once, and never
    both a file and a directory (the first one drawn stays)."""
    kept: list[FileSeed] = []
    for file in files:
        if not any(
            other.source == file.source
            and (
                other.path == file.path
                or other.path.startswith(file.path + "/")
                or file.path.startswith(other.path + "/")
            )
            for other in kept
        ):
            kept.append(file)
    return tuple(kept)


def _object_for(file: FileSeed, kind: str) -> bytes:
    if kind == "equal":
        return file.data
    if kind == "same size":
        return bytes(byte ^ 1 for byte in file.data)  # equal when empty: that is fine
    return file.data + b"+"


@st.composite
def commands(draw: st.DrawFn, prefix: str) -> Command:
    delete = draw(st.booleans())
    return Command(
        prefix=prefix,
        put=draw(st.sampled_from(("update", "add", "stupid"))),
        compare=draw(st.sampled_from(("checksum", "size", "size-mtime"))),
        delete=delete,
        max_delete=draw(st.none() | st.integers(0, 3)) if delete else None,
        dry_run=draw(st.booleans()),
        rules=tuple(
            draw(
                st.lists(
                    st.tuples(st.sampled_from((EXCLUDE, INCLUDE)), st.sampled_from(PATTERNS)),
                    max_size=3,
                )
            )
        ),
        older_than_days=draw(st.sampled_from((None, AGE_LIMIT_DAYS))),
    )


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    prefix = draw(st.sampled_from(PREFIXES))
    directory = prefix_directory(prefix)
    sources = draw(st.sampled_from((1, 2)))
    # With two SOURCEs, a path is in the first, the second or both (one key, two files).
    where = st.sampled_from(((0,), (1,), (0, 1)) if sources == 2 else ((0,),))
    file_ages = st.sampled_from(tuple(FILE_AGES))
    drawn = draw(st.lists(st.tuples(relative_paths, where), max_size=12))
    files = _one_tree_each(
        FileSeed(source, path, draw(bodies), draw(file_ages))
        for path, in_sources in drawn
        for source in in_sources
    )[:12]
    object_ages = st.sampled_from(tuple(OBJECT_AGES))
    objects: dict[str, ObjectSeed] = {}
    for file in files:
        kind = draw(st.sampled_from(OBJECT_KINDS))
        key = key_of(prefix, file.path)
        if kind != "absent" and key not in objects:
            objects[key] = ObjectSeed(key, _object_for(file, kind), draw(object_ages))
    stale = st.builds(
        ObjectSeed, relative_paths.map(lambda path: directory + path), bodies, object_ages
    )
    for seed in draw(st.lists(stale, max_size=4)):
        objects.setdefault(seed.key, seed)
    # Folder markers: 'site/', 'site/sub/', 'site/sub/a b/'... (no '/' alone).
    markers = st.lists(st.sampled_from(DIRECTORY_NAMES), min_size=0 if prefix else 1, max_size=2)
    for names in draw(st.lists(markers, max_size=2)):
        key = directory + "".join(name + "/" for name in names)
        objects.setdefault(key, ObjectSeed(key, b"", "minutes"))
    if AROUND[prefix]:
        for key in draw(st.lists(st.sampled_from(AROUND[prefix]), max_size=3, unique=True)):
            objects.setdefault(key, ObjectSeed(key, b"around", draw(object_ages)))
    return Scenario(
        command=draw(commands(prefix)),
        sources=sources,
        files=files,
        objects=tuple(objects.values()),
        spread=draw(st.booleans()),
    )


# Small scenarios that every run of the tests tries first (explicit examples): an old
# file whose object --delete with an age limit must keep, and a name with a backslash
# (an ordinary key on AWS and the fake; on SeaweedFS another key than the one sent).
KNOWN_EXAMPLES = (
    Scenario(
        Command(prefix="site", delete=True, older_than_days=AGE_LIMIT_DAYS),
        sources=1,
        files=(FileSeed(0, "a", b"a", "old"),),
        objects=(ObjectSeed("site/a", b"a", "minutes"),),
    ),
    Scenario(
        Command(prefix="site", delete=True),
        sources=1,
        files=(FileSeed(0, "x\\y", b"x", "recent"),),
        objects=(),
    ),
)


def with_known_examples(test: Callable[..., None]) -> Callable[..., None]:
    """``test`` with KNOWN_EXAMPLES as its explicit examples."""
    for scenario in KNOWN_EXAMPLES:
        test = example(scenario=scenario)(test)
    return test


def stored_as(key: str) -> str:
    """The key SeaweedFS stores ``key`` under: '\\' becomes '/'."""
    return key.replace("\\", "/")


def for_seaweedfs(scenario: Scenario) -> Scenario:
    """The scenario without what SeaweedFS, a file system underneath, cannot hold apart:
    a key and the folder marker ``key/`` are one entry there, and so are two keys that
    differ only in '\\' against '/'. Of two such keys the first one drawn stays."""
    prefix = scenario.command.prefix
    entries: dict[str, str] = {}  # the entry on the server -> the key that has it

    def fits(key: str) -> bool:
        entry = stored_as(key).rstrip("/")
        return entries.setdefault(entry, key) == key

    files = tuple(file for file in scenario.files if fits(key_of(prefix, file.path)))
    objects = tuple(seed for seed in scenario.objects if fits(seed.key))
    return Scenario(scenario.command, scenario.sources, files, objects, scenario.spread)


def bytes_of(bucket: dict[str, StoredObject]) -> Snapshot:
    return {key: stored.data for key, stored in bucket.items()}


def _difference(actual: Snapshot, expected: Snapshot) -> str:
    extra = sorted(set(actual) - set(expected))
    missing = sorted(set(expected) - set(actual))
    changed = sorted(k for k in set(actual) & set(expected) if actual[k] != expected[k])
    return f"keys there but not expected: {extra}; missing: {missing}; other bytes: {changed}"


def assert_as_modelled(
    scenario: Scenario,
    before: Snapshot,
    after: Snapshot,
    expected: Expected,
    rewrites_backslash: bool = False,
) -> None:
    """The properties of the bucket after one run, from the narrowest to the whole."""
    command = scenario.command
    directory = prefix_directory(command.prefix)

    def outside(snapshot: Snapshot) -> Snapshot:
        return {key: data for key, data in snapshot.items() if not key.startswith(directory)}

    assert outside(after) == outside(before), "a key outside the prefix changed: " + (
        _difference(outside(after), outside(before))
    )
    mapped = {key_of(command.prefix, file.path) for file in scenario.files}
    if rewrites_backslash:
        mapped |= {stored_as(key) for key in mapped}
    lost = sorted(key for key in mapped if key in before and key not in after)
    assert not lost, f"deleted keys that a local file maps to: {lost}"
    if command.dry_run:
        assert after == before, "a dry run changed the bucket: " + _difference(after, before)
    model = bytes_of(expected.bucket)
    assert after == model, "the bucket is not as the model says: " + _difference(after, model)


def assert_second_run_changed_nothing(first: Snapshot, second: Snapshot) -> None:
    assert second == first, "a second identical run changed the bucket: " + _difference(
        second, first
    )
