"""Where a run records what it did (``--report``) and resumes from (``--resume``), and
what its workers print per file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.options.values import OptionGroup


@dataclass(frozen=True)
class RecordOptions(OptionGroup):
    """The report the workers write: one JSON-lines file, or a directory (or s3:// prefix)
    of shards. The CLI fills it in from where ``--report``/``--resume`` put the report
    (``pipeline.report.place``), a local copy of an s3:// file while the run lasts
    (``pipeline.report.staging.records_for_run``).

    It stays an option group here, not in ``pipeline.report``: ``UploadConfig`` holds it,
    and the report package imports the options, which are the layer below it."""

    title = "records"

    report_path: str | None = None
    report_shards: bool = False  # report_path is a directory of shards (distributed runners)

    @staticmethod
    def add_arguments(group: Any) -> None:
        group.add_argument(
            "--report",
            metavar="FILE",
            help="append one JSON line per file (local path or s3://bucket/key)",
        )
        group.add_argument(
            "--resume",
            metavar="FILE",
            help="skip files a report records as done (size and mtime unchanged); "
            "the run's own lines are appended to it unless --report says otherwise",
        )
