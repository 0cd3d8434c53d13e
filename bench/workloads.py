"""Source trees for the benchmark: generated once under bench/work/, reused while they last.

Each spec writes its tree with plain ``os`` calls and records what it wrote in a marker
file next to the tree (never inside it, so no tool uploads it). A tree whose marker
matches its spec is reused as it is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB
_CHUNK = 8 * MIB
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True)
class TreeSpec:
    """Something that can write a tree of files under an empty directory."""

    def generate(self, root: Path) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class SmallFiles(TreeSpec):
    """``top`` x ``sub`` directories (two levels) of ``per_dir`` random files each."""

    top: int
    sub: int
    per_dir: int
    min_size: int = 1 * KIB
    max_size: int = 8 * KIB
    seed: int = 1

    def generate(self, root: Path) -> None:
        rng = random.Random(self.seed)
        for i in range(self.top):
            for j in range(self.sub):
                directory = root / f"d{i:03d}" / f"s{j:03d}"
                directory.mkdir(parents=True)
                for k in range(self.per_dir):
                    size = rng.randint(self.min_size, self.max_size)
                    _write(directory / f"f{k:04d}.bin", os.urandom(size))


@dataclass(frozen=True)
class OneFile(TreeSpec):
    """One file of ``size`` random bytes."""

    size: int
    name: str = "big.bin"

    def generate(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        fd = os.open(root / self.name, _FLAGS, 0o644)
        try:
            left = self.size
            while left > 0:
                left -= os.write(fd, os.urandom(min(_CHUNK, left)))
        finally:
            os.close(fd)


@dataclass(frozen=True)
class EqualFiles(TreeSpec):
    """``count`` files of ``size`` random bytes in one directory."""

    count: int
    size: int

    def generate(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        for k in range(self.count):
            _write(root / f"part{k:04d}.bin", os.urandom(self.size))


@dataclass(frozen=True)
class ScaleTree(TreeSpec):
    """``parts`` x ``dirs`` directories of ``per_dir`` files of 0..``max_size`` bytes.

    Laid out as ``pNN/dNNN/fNNNN`` so that one part (``p00``) is a smaller tree of its
    own. Contents are slices of one random buffer: the point is the file count.
    """

    parts: int
    dirs: int = 100
    per_dir: int = 1000
    max_size: int = 1 * KIB
    seed: int = 5

    def generate(self, root: Path) -> None:
        rng = random.Random(self.seed)
        pool = memoryview(os.urandom(MIB))
        for p in range(self.parts):
            for d in range(self.dirs):
                directory = root / f"p{p:02d}" / f"d{d:03d}"
                directory.mkdir(parents=True)
                _write_many(directory, self.per_dir, self.max_size, pool, rng)


@dataclass(frozen=True)
class FlatDirs(TreeSpec):
    """``dirs`` directories (one level, ``dNNN``) of ``per_dir`` files of 0..``max_size``
    bytes each. Contents are slices of one random buffer, as in :class:`ScaleTree`."""

    dirs: int
    per_dir: int
    max_size: int = 4 * KIB
    seed: int = 6

    def generate(self, root: Path) -> None:
        rng = random.Random(self.seed)
        pool = memoryview(os.urandom(MIB))
        for d in range(self.dirs):
            directory = root / f"d{d:03d}"
            directory.mkdir(parents=True)
            _write_many(directory, self.per_dir, self.max_size, pool, rng)


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, _FLAGS, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _write_many(
    directory: Path, count: int, max_size: int, pool: memoryview, rng: random.Random
) -> None:
    """Write ``count`` files into ``directory`` as fast as Python can (dir_fd, no Path)."""
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    limit = len(pool) - max_size
    try:
        for k in range(count):
            size = rng.randint(0, max_size)
            fd = os.open(f"f{k:04d}", _FLAGS, 0o644, dir_fd=dir_fd)
            if size:
                start = rng.randint(0, limit)
                os.write(fd, pool[start : start + size])
            os.close(fd)
    finally:
        os.close(dir_fd)


def ensure_tree(root: Path, spec: TreeSpec) -> bool:
    """Generate ``spec`` at ``root`` unless a matching tree is there; True if generated."""
    marker = root.with_name(root.name + ".done.json")
    wanted = {"type": type(spec).__name__, **dataclasses.asdict(spec)}
    if marker.is_file() and root.is_dir() and json.loads(marker.read_text()) == wanted:
        return False
    marker.unlink(missing_ok=True)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    spec.generate(root)
    marker.write_text(json.dumps(wanted))
    return True


def tree_listing(root: Path) -> dict[str, int]:
    """Every file under ``root`` as ``/``-separated relative path -> size."""
    listing: dict[str, int] = {}
    stack = [(root, "")]
    while stack:
        directory, rel = stack.pop()
        with os.scandir(directory) as entries:
            for entry in entries:
                name = rel + entry.name
                if entry.is_dir(follow_symlinks=False):
                    stack.append((Path(entry.path), name + "/"))
                elif entry.is_file(follow_symlinks=False):
                    listing[name] = entry.stat(follow_symlinks=False).st_size
    return listing


def tree_totals(root: Path) -> tuple[int, int]:
    """(files, bytes) under ``root`` without keeping the listing."""
    files = size = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files += 1
                    size += entry.stat(follow_symlinks=False).st_size
    return files, size
