"""What an object's ETag says about its bytes, whichever tool uploaded it.

S3 gives an object stored by one PUT the MD5 of its bytes as its ETag (unless it is
encrypted with SSE-KMS or SSE-C), and one stored by a multipart upload the MD5 of its
parts' MD5s followed by ``-N``, N the number of parts. The part size is not stored, and
tools differ: aws and boto3 use 8 MiB parts (doubled for very big files), s5cmd 50 MiB,
rclone and the AWS SDKs for Go, Java and JavaScript 5 MiB, minio's mc 16 MiB, s3cmd
15 MiB, and every tool can be told another. So a multipart ETag is checked against the
part sizes that give exactly N parts for the object's size: first the sizes tools use,
then every whole-MiB size, at most ``MAX_PART_SIZES`` in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MiB = 1024 * 1024
MAX_PART_SIZES = 16  # part sizes tried for one multipart ETag; past that: cannot verify
MAX_PARTS = 10_000  # S3's limit, which makes tools grow their parts for big files
# The part sizes of tools' defaults and common settings, most used first.
_COMMON_MIB = (8, 5, 50, 16, 15, 10, 64, 100, 128, 32, 256, 512, 1024)
_PLAIN = re.compile(r"[0-9a-f]{32}")
_MULTIPART = re.compile(r"([0-9a-f]{32})-([1-9][0-9]{0,4})")


@dataclass(frozen=True)
class StoredEtag:
    """An ETag in one of the forms an MD5 gives: ``parts`` None for one PUT's MD5."""

    digest: str
    parts: int | None = None

    @classmethod
    def parse(cls, etag: str) -> StoredEtag | None:
        """The ETag's form; None when it is neither an MD5 nor a multipart ETag."""
        etag = etag.strip('"').lower()
        if _PLAIN.fullmatch(etag):
            return cls(etag)
        match = _MULTIPART.fullmatch(etag)
        if match is None or int(match[2]) > MAX_PARTS:
            return None
        return cls(match[1], int(match[2]))


def gives_parts(size: int, part_size: int, parts: int) -> bool:
    """Whether ``size`` bytes in parts of ``part_size`` make exactly ``parts`` parts."""
    return part_size > 0 and max(1, -(-size // part_size)) == parts


def _grown(part_size: int, size: int) -> int:
    """``part_size`` doubled until ``size`` fits in S3's 10,000 parts (as s3transfer and
    rclone grow theirs)."""
    while -(-size // part_size) > MAX_PARTS:
        part_size *= 2
    return part_size


@dataclass(frozen=True)
class PartSizes:
    """The part sizes to try for a multipart ETag of ``parts`` parts of an object."""

    likely: tuple[int, ...]  # the sizes tools use: tried first
    others: tuple[int, ...]  # whole-MiB sizes: tried when none of those matches
    complete: bool  # every whole-MiB size giving that many parts is among them

    @property
    def all(self) -> tuple[int, ...]:
        return self.likely + self.others


def part_sizes(size: int, parts: int, own: int) -> PartSizes:
    """The part sizes that give ``parts`` parts for ``size`` bytes: ``own`` (the part
    size this tool would use) and those of other tools first, then whole-MiB sizes,
    smallest first, at most ``MAX_PART_SIZES``."""
    if parts == 1:  # one part: any part size of the whole object or more
        return PartSizes(likely=(max(size, 1),), others=(), complete=True)
    rules = [own]
    for mib in _COMMON_MIB:
        rules += [mib * MiB, _grown(mib * MiB, size)]
    # The AWS SDK for Go (s5cmd), and this tool: just enough for 10,000 parts.
    rules += [size // MAX_PARTS + 1, -(-size // MAX_PARTS)]
    likely = tuple(dict.fromkeys(p for p in rules if gives_parts(size, p, parts)))
    likely = likely[:MAX_PART_SIZES]
    smallest = -(-size // parts)  # below this, more parts
    largest = (size - 1) // (parts - 1)  # above this, fewer parts
    whole = range(-(-smallest // MiB) * MiB, largest + 1, MiB)
    room = MAX_PART_SIZES - len(likely)
    others = tuple(p for p in whole[: room + len(likely)] if p not in likely)[:room]
    tried = set(likely + others)
    return PartSizes(likely, others, complete=all(p in tried for p in whole))


def describe(part_size: int) -> str:
    """'50 MiB parts', or '5243392-byte parts' for a size not in whole MiB."""
    if part_size % MiB == 0:
        return f"{part_size // MiB} MiB parts"
    return f"{part_size}-byte parts"
