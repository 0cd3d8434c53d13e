"""Whether each file is uploaded: ``--put``, ``--compare`` and ``--dry-run``."""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass
from typing import Any

from pipeline.errors import UsageError
from pipeline.options.values import OptionGroup, add_choice, non_negative


class PutMode(enum.Enum):
    """When a file is uploaded (the classic ``--put`` option)."""

    ADD = "add"  # only keys that are absent
    STUPID = "stupid"  # always
    UPDATE = "update"  # absent, or content differs (as --compare says)
    COPY = "copy"  # server-side copy from a source bucket (--walk s3), when absent or changed


class CompareMode(enum.Enum):
    """How ``update`` and ``copy`` tell a changed file from the object (``--compare``)."""

    CHECKSUM = "checksum"  # the body's digests against the ETag (any tool's part size) or
    # a stored checksum: exact
    SIZE_MTIME = "size-mtime"  # sizes equal and the object not older than the file
    SIZE = "size"  # sizes equal


DEFAULT_CACHE = ""  # the checksum cache in the user's cache directory, on each worker


@dataclass(frozen=True)
class DecisionOptions(OptionGroup):
    title = "when to upload"
    put: PutMode = PutMode.UPDATE
    compare: CompareMode = CompareMode.CHECKSUM
    # Where MD5s are remembered per path, size, mtime and ctime (None: nowhere).
    checksum_cache: str | None = DEFAULT_CACHE
    dry_run: bool = False
    delete: bool = False  # delete the objects under the prefix that no local file maps to
    max_delete: int | None = None  # more deletions planned than this: none are made

    def __post_init__(self) -> None:
        if self.max_delete is not None and not self.delete:
            raise UsageError("--max-delete goes with --delete")

    @staticmethod
    def add_arguments(group: Any) -> None:
        add_choice(
            group,
            "--put",
            PutMode,
            PutMode.UPDATE,
            "add: only absent keys; stupid: always; update (default): "
            "absent keys or changed content (see --compare); copy: server-side copy from "
            "a source bucket (--walk s3) of objects absent or changed. Except with stupid, "
            "a write is conditional (If-None-Match/If-Match) and never overwrites an object "
            "written after the comparison: add skips that file, update and copy fail it",
        )
        add_choice(
            group,
            "--compare",
            CompareMode,
            CompareMode.CHECKSUM,
            "how update tells a changed file: checksum (default): the file's MD5 against "
            "the ETag, whichever tool stored the object (one PUT or multipart, any of the "
            "usual part sizes), else against its stored checksum; exact, reading only files "
            "not hashed before with this size and mtime (see --checksum-cache); "
            "size-mtime: upload when the size differs or the file is newer than the object, "
            "reads nothing (as aws s3 sync and s5cmd sync); size: "
            "when the size differs (as rclone --size-only)",
        )
        group.add_argument(
            "--checksum-cache",
            metavar="FILE",
            help="where --compare checksum remembers the MD5s it computed, by path, size, "
            "mtime and ctime (default: s3-parallel-put/checksums.sqlite in the user's cache "
            "directory, on each worker; 'off': none)",
        )
        group.add_argument(
            "--dry-run",
            action="store_true",
            help="show what would be uploaded (and deleted); write nothing",
        )
        group.add_argument(
            "--delete",
            action="store_true",
            help="mirror SOURCE directories: delete the objects under the prefix that no "
            "file under SOURCE maps to (never a file's object, whatever the filters; of the "
            "rest, those --include/--exclude leave out or older than the age limit are "
            "kept); nothing is deleted when a directory or a listing could not be read",
        )
        group.add_argument(
            "--max-delete",
            type=non_negative,
            metavar="N",
            help="with --delete: when more than N deletions are planned, make none (exit 1); "
            "--dry-run lists them",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DecisionOptions:
        cache = args.checksum_cache
        return cls(
            put=PutMode(args.put),
            compare=CompareMode(args.compare),
            checksum_cache=None if cache == "off" else (cache or DEFAULT_CACHE),
            dry_run=args.dry_run,
            delete=args.delete,
            max_delete=args.max_delete,
        )
