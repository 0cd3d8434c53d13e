"""Units: folding results into the summary."""

from __future__ import annotations

from pipeline.records import Action, FileResult
from pipeline.results import MAX_LISTED_FAILURES, Summary


def test_summary_counts_and_merges() -> None:
    summary = Summary()
    summary.add(FileResult("p", "k", Action.UPLOADED, size=10, bytes_sent=4))
    summary.add(FileResult("p", "k", Action.SKIPPED))
    for _ in range(MAX_LISTED_FAILURES + 5):
        summary.add(FileResult("p", "k", Action.FAILED, error="boom"))
    other = Summary()
    other.add(FileResult("q", "j", Action.WOULD_UPLOAD))
    summary.merge(other)
    assert (summary.files, summary.uploaded, summary.skipped) == (MAX_LISTED_FAILURES + 8, 1, 1)
    assert (summary.failed, summary.would_upload, summary.bytes_uploaded) == (
        MAX_LISTED_FAILURES + 5,
        1,
        4,
    )
    assert len(summary.failures) == MAX_LISTED_FAILURES
    assert Summary.from_dict(summary.to_dict()) == summary
