"""Where a run records what it did (``--report``) and resumes from (``--resume``), and
what its workers print per file."""

from __future__ import annotations

import argparse
from dataclasses import dataclass


@dataclass(frozen=True)
class RecordOptions:
    """The report the workers write: one JSON-lines file, or a directory (or s3:// prefix)
    of shards. The CLI fills it in from ``--report``/``--resume`` (``records_for_run``)."""

    report_path: str | None = None
    report_shards: bool = False  # report_path is a directory of shards (distributed runners)

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        records = parser.add_argument_group("records")
        records.add_argument(
            "--report",
            metavar="FILE",
            help="append one JSON line per file (local path or s3://bucket/key)",
        )
        records.add_argument(
            "--resume",
            metavar="FILE",
            help="skip files a report records as done (size and mtime unchanged); "
            "the run's own lines are appended to it unless --report says otherwise",
        )


@dataclass(frozen=True)
class OutputOptions:
    """What the workers show while they run, in the process that started the run."""

    run_id: str = ""  # names this run's progress bar (and log lines) in the CLI's process
    json_lines: bool = False  # -v with --json: one JSON line per file on stdout
