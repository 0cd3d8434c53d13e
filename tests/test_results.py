"""Units: folding results into the summary."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from pipeline import CountResults
from pipeline.console import CommandLineObserver
from pipeline.plan import DEFAULT_RUNNER
from pipeline.records import Action, FileResult
from pipeline.summary import MAX_LISTED_FAILURES, Summary


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


def test_the_command_line_keeps_the_first_failures_of_its_own_run() -> None:
    run_a, run_b = CommandLineObserver("a", False), CommandLineObserver("b", False)
    for i in range(MAX_LISTED_FAILURES + 5):
        run_a.finished(FileResult(f"p{i}", f"k{i}", Action.FAILED, error="boom"))
    run_a.finished(FileResult("ok", "ok", Action.UPLOADED))
    run_b.finished(FileResult("q", "j", Action.FAILED, error="other"))

    assert [f["key"] for f in run_a.failures] == [f"k{i}" for i in range(MAX_LISTED_FAILURES)]
    assert run_b.failures == [{"path": "q", "key": "j", "error": "other"}]


def test_deletions_are_counted_apart_from_files() -> None:
    summary = Summary()
    summary.add(FileResult("p", "k", Action.UPLOADED))
    summary.add(FileResult("s3://b/old", "old", Action.DELETED, deletion=True))
    summary.add(FileResult("", "x", Action.FAILED, walk_incomplete=True))
    assert (summary.files, summary.deleted, summary.walk_incomplete) == (2, 1, 1)


def test_count_results_gives_one_summary_also_of_nothing() -> None:
    """A library user's pipeline learns its counts and failures as a PCollection, and one
    that uploaded nothing (no result at all) still gets a Summary saying so."""
    results = [
        FileResult("a", "k/a", Action.UPLOADED, size=3, bytes_sent=3),
        FileResult("b", "k/b", Action.SKIPPED),
        FileResult("c", "k/c", Action.FAILED, error="NoSuchBucket"),
    ]
    expected = Summary(files=3, uploaded=1, skipped=1, failed=1, bytes_uploaded=3, bytes_read=3)
    expected.failures.append({"path": "c", "key": "k/c", "error": "NoSuchBucket"})

    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        some = p | "Some" >> beam.Create(results) | "CountSome" >> CountResults()
        none = p | "None" >> beam.Create([]) | "CountNone" >> CountResults()
        assert_that(some, equal_to([expected]), label="CheckSome")
        assert_that(none, equal_to([Summary()]), label="CheckNone")


def test_every_action_has_its_counter() -> None:
    from pipeline.counters import Counter
    from pipeline.records import Action

    assert {Counter.of(action).value for action in Action} == {
        f"files_{action.value}" for action in Action
    }
