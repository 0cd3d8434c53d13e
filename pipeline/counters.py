"""The run's Beam counters: their names in one place, for the DoFns that count and for
the summary and the progress bar that read them."""

from __future__ import annotations

import enum
from typing import Any

from pipeline.records import Action

METRICS_NAMESPACE = "s3_parallel_put"


class Counter(enum.Enum):
    SOURCES = "sources"  # SOURCEs (or --files-from lines) resolved
    FILES_FOUND = "files_found"  # by the walk, as it goes
    SHARDS_NOT_WALKED = "shards_not_walked"  # an interrupt kept them from being walked
    FILES = "files"  # with a result
    FILES_UPLOADED = "files_uploaded"
    FILES_SKIPPED = "files_skipped"
    FILES_FAILED = "files_failed"
    FILES_WOULD_UPLOAD = "files_would_upload"
    FILES_NOT_STARTED = "files_not_started"
    FILES_DELETED = "files_deleted"
    FILES_WOULD_DELETE = "files_would_delete"
    FILES_WITHHELD = "files_withheld"  # deletions --max-delete held back (listed by --dry-run)
    DELETES_PLANNED = "deletes_planned"
    DELETES_WITHHELD = "deletes_withheld"
    WALK_INCOMPLETE = "walk_incomplete"
    BYTES_UPLOADED = "bytes_uploaded"
    BYTES_READ = "bytes_read"
    RETRIES = "retries"
    RESUME_RECORDS_ELSEWHERE = "resume_records_elsewhere"
    COMPARED_BY_MTIME = "compared_by_mtime"

    @classmethod
    def of(cls, action: Action) -> Counter:
        """The counter of the results with ``action``."""
        return cls(f"files_{action.value}")

    def metric(self) -> Any:
        """The Beam counter, for a DoFn to ``inc()`` (Beam is loaded here: the names alone
        are read without it)."""
        from apache_beam.metrics import Metrics

        return Metrics.counter(METRICS_NAMESPACE, self.value)
