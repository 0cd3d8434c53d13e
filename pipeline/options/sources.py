"""What a run reads: the SOURCEs, how they are walked, and which files are chosen."""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass, field
from typing import Any

from pipeline.errors import UsageError
from pipeline.filters import EXCLUDE, INCLUDE, FileFilter
from pipeline.options.values import OptionGroup, add_choice, non_negative


class WalkKind(enum.Enum):
    """How a SOURCE is read (``--walk``)."""

    FILESYSTEM = "filesystem"  # a directory tree, a file or a glob
    TAR = "tar"  # a tar archive (local or s3://), streamed member by member
    S3 = "s3"  # s3://bucket/prefix on the same endpoint, for --put copy


class _FilterRule(argparse.Action):
    """--include and --exclude share one list, so their order on the command line counts."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        kind = INCLUDE if option_string == "--include" else EXCLUDE
        rules = [*(getattr(namespace, self.dest, None) or []), (kind, values)]
        setattr(namespace, self.dest, rules)


@dataclass(frozen=True)
class SourceOptions(OptionGroup):
    """The SOURCEs and how they are walked into files."""

    title = "what to upload"

    sources: tuple[str, ...] = ()
    walk: WalkKind = WalkKind.FILESYSTEM
    files_from: str | None = None  # a list of paths relative to the one SOURCE
    follow_symlinks: bool = False
    file_filter: FileFilter = field(default_factory=FileFilter)
    limit: int | None = None  # the first N files in walk order

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise UsageError("--limit must not be negative")
        if self.files_from is not None and (
            self.walk is not WalkKind.FILESYSTEM or len(self.sources) != 1
        ):
            raise UsageError("--files-from takes exactly one SOURCE directory (--walk filesystem)")

    @staticmethod
    def add_arguments(group: Any) -> None:
        group.add_argument(
            "sources",
            nargs="+",
            metavar="SOURCE",
            help="a directory, a file or a glob pattern to upload",
        )
        group.add_argument(
            "--include",
            dest="filter_rules",
            action=_FilterRule,
            default=[],
            metavar="PATTERN",
            help="upload files whose path relative to SOURCE "
            "matches (fnmatch; repeatable; the last matching rule wins)",
        )
        group.add_argument(
            "--exclude",
            dest="filter_rules",
            action=_FilterRule,
            metavar="PATTERN",
            help="skip files whose path relative to SOURCE matches (repeatable)",
        )
        add_choice(
            group,
            "--walk",
            WalkKind,
            WalkKind.FILESYSTEM,
            "how SOURCE is read: a directory tree, file or glob (default); a tar "
            "archive (.tar, .tar.gz, .tar.bz2, .tar.xz; local or s3://), streamed; or "
            "s3://bucket/prefix on the same endpoint, with --put copy",
        )
        group.add_argument(
            "--files-from",
            metavar="FILE",
            help="upload the files this list names, one path relative to the one SOURCE "
            "directory per line (local or s3://; for lists of millions, read in parallel on "
            "a cluster); './' and '//' are dropped, blank lines and lines starting with '#' "
            "or ';' ignored, and a path listed twice is uploaded once",
        )
        group.add_argument(
            "--follow-symlinks",
            action="store_true",
            help="walk into linked directories too (each directory once; links to files "
            "are always uploaded)",
        )
        group.add_argument(
            "--ignore-files-older-than-days",
            type=float,
            metavar="DAYS",
            help="skip files last modified more than DAYS days ago (with --delete their "
            "objects are kept)",
        )
        group.add_argument(
            "--limit",
            type=non_negative,
            metavar="N",
            help="stop after N files (in sorted walk order)",
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SourceOptions:
        return cls(
            sources=tuple(args.sources),
            walk=WalkKind(args.walk),
            files_from=args.files_from,
            follow_symlinks=args.follow_symlinks,
            file_filter=FileFilter.build(args.filter_rules, args.ignore_files_older_than_days),
            limit=args.limit,
        )
