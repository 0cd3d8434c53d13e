"""Whether each file is uploaded: ``--put`` and ``--dry-run``."""

from __future__ import annotations

import argparse
import enum
from dataclasses import dataclass
from typing import Any

from pipeline.options.values import OptionGroup, add_choice


class PutMode(enum.Enum):
    """When a file is uploaded (the classic ``--put`` option)."""

    ADD = "add"  # only keys that are absent
    STUPID = "stupid"  # always
    UPDATE = "update"  # absent, or content differs (MD5 against ETag)
    COPY = "copy"  # server-side copy from a source bucket (--walk s3), when absent or changed


@dataclass(frozen=True)
class DecisionOptions(OptionGroup):
    title = "when to upload"
    put: PutMode = PutMode.UPDATE
    dry_run: bool = False

    @staticmethod
    def add_arguments(group: Any) -> None:
        add_choice(
            group,
            "--put",
            PutMode,
            PutMode.UPDATE,
            "add: only absent keys; stupid: always; update (default): "
            "absent keys or changed content (MD5 against ETag); copy: server-side copy from "
            "a source bucket (--walk s3) of objects absent or changed",
        )
        group.add_argument(
            "--dry-run", action="store_true", help="show what would be uploaded; write nothing"
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DecisionOptions:
        return cls(put=PutMode(args.put), dry_run=args.dry_run)
