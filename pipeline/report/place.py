"""Where a run's report goes, resolved once from ``--report``, ``--resume`` and the runner.

A run records what it did in the report that ``--report`` names, else in the one it
resumes from (``--resume``). On the local runner that is one JSON-lines file (an s3://
one is staged in and out); on a distributed runner, or where the path names a directory
(an existing one, or one ending in ``/``), it is a directory or s3:// prefix of shards,
one per worker bundle. The command line resolves this once (``report_place``); the
destination checks and the staging read the answer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.errors import UsageError
from pipeline.s3uri import is_s3

REPORT_SUFFIX = ".jsonl"  # how a report file ends among the shards of a directory or prefix


@dataclass(frozen=True)
class ReportPlace:
    """Where the run's lines go, in what layout, and the report it resumes from."""

    uri: str  # a local path or s3:// URI: --report, else --resume
    option: str  # the option that named ``uri`` ("--report" or "--resume"), for messages
    shards: bool  # a directory (or s3:// prefix) of shards, not one file
    resume: str | None = None  # the report to resume from (--resume)

    @property
    def on_s3(self) -> bool:
        """The lines go to a bucket (one file staged out, or shards the workers store)."""
        return is_s3(self.uri)

    @property
    def uses_s3(self) -> bool:
        """The report or the one resumed from is in a bucket: the run needs a client."""
        return self.on_s3 or (self.resume is not None and is_s3(self.resume))

    @property
    def appends_to_resume(self) -> bool:
        """The run's lines go to the report it resumes from."""
        return self.uri == self.resume


def report_place(report: str | None, resume: str | None, local: bool) -> ReportPlace | None:
    """Where the report of a run with these ``--report`` and ``--resume`` goes (None when
    neither is given); ``local`` says the runner runs on this machine. An empty one is a
    usage error."""
    for option, value in (("--report", report), ("--resume", resume)):
        if value is not None and not value.strip():
            raise UsageError(f"{option} names no file: give a path or an s3:// URI")
    uri = report or resume
    if uri is None:
        return None
    shards = not local or uri.endswith("/") or os.path.isdir(uri)
    option = "--report" if report else "--resume"
    return ReportPlace(uri=uri, option=option, shards=shards, resume=resume)
