"""The summary of a run: what it did, in exact counts, with its first failures listed.

A ``Summary`` is made from the run's Beam counters (``from_counters``: right on every
runner) or folded from its results (``add``, ``merge``: ``pipeline.results``); it is
plain data, so the command line reads it without loading Beam.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from pipeline.counters import Counter
from pipeline.records import Action, FileResult

MAX_LISTED_FAILURES = 20
# Summary field -> the Beam counter that counts it
COUNTERS = {
    "files": Counter.FILES,
    "uploaded": Counter.FILES_UPLOADED,
    "skipped": Counter.FILES_SKIPPED,
    "failed": Counter.FILES_FAILED,
    "would_upload": Counter.FILES_WOULD_UPLOAD,
    "not_started": Counter.FILES_NOT_STARTED,
    "deleted": Counter.FILES_DELETED,
    "would_delete": Counter.FILES_WOULD_DELETE,
    "deletes_planned": Counter.DELETES_PLANNED,
    "deletes_withheld": Counter.DELETES_WITHHELD,
    "walk_incomplete": Counter.WALK_INCOMPLETE,
    "unwalked_shards": Counter.SHARDS_NOT_WALKED,
    "bytes_uploaded": Counter.BYTES_UPLOADED,
    "bytes_read": Counter.BYTES_READ,
    "retries": Counter.RETRIES,
    "resume_records_elsewhere": Counter.RESUME_RECORDS_ELSEWHERE,
    "compared_by_mtime": Counter.COMPARED_BY_MTIME,
}


def listed_failure(result: FileResult) -> dict[str, str]:
    """A failed result as the summary lists it."""
    return {"path": result.path, "key": result.key, "error": result.error}


@dataclass
class Summary:
    """What one run did. Counts are exact; ``failures`` lists the first few."""

    files: int = 0
    uploaded: int = 0
    skipped: int = 0
    failed: int = 0
    would_upload: int = 0
    not_started: int = 0  # interrupted before they were uploaded
    unwalked_shards: int = 0  # shards an interrupt kept from being walked
    deleted: int = 0  # --delete: objects deleted
    would_delete: int = 0  # --delete --dry-run
    deletes_planned: int = 0  # objects under the prefix that no local file maps to
    deletes_withheld: int = 0  # planned but not made: the walk was incomplete, or too many
    walk_incomplete: int = 0  # failures that hide which keys the tree maps to
    bytes_uploaded: int = 0  # bytes sent in PUT bodies
    bytes_read: int = 0  # bytes of the local files uploaded
    retries: int = 0  # whole-file attempts after the first
    resume_records_elsewhere: int = 0  # --resume records of another bucket or endpoint
    # --compare checksum: objects whose ETag is no MD5 and that hold no stored checksum
    compared_by_mtime: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def add(self, result: FileResult) -> None:
        """Count ``result`` (a ``withheld`` one is counted by the deletion step, with the
        deletions withheld that have no result)."""
        self.files += 0 if result.deletion else 1
        self.retries += result.retries
        self.walk_incomplete += int(result.walk_incomplete)
        if result.action is Action.DELETED:
            self.deleted += 1
        elif result.action is Action.WOULD_DELETE:
            self.would_delete += 1
        elif result.action is Action.UPLOADED:
            self.uploaded += 1
            self.bytes_uploaded += result.bytes_sent
            self.bytes_read += result.size
        elif result.action is Action.SKIPPED:
            self.skipped += 1
        elif result.action is Action.WOULD_UPLOAD:
            self.would_upload += 1
        elif result.action is Action.NOT_STARTED:
            self.not_started += 1
        elif result.action is Action.FAILED:
            self.failed += 1
            if len(self.failures) < MAX_LISTED_FAILURES:
                self.failures.append(listed_failure(result))

    def merge(self, other: Summary) -> None:
        for f in dataclasses.fields(self):
            if f.name == "failures":
                room = MAX_LISTED_FAILURES - len(self.failures)
                self.failures.extend(other.failures[: max(room, 0)])
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_counters(cls, counters: dict[str, int], failures: list[dict[str, str]]) -> Summary:
        """The counts of a run from its Beam counters; ``failures`` as listed elsewhere."""
        counts = {field: int(counters.get(c.value, 0)) for field, c in COUNTERS.items()}
        return cls(**counts, failures=failures[:MAX_LISTED_FAILURES])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Summary:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
