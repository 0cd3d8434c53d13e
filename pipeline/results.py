"""Folding per-file results into the run's summary (a CombineFn, not a global).

``CountResults`` is that fold as a transform, for a pipeline of one's own around
``UploadSources``: ``results | CountResults()`` is a PCollection of one ``Summary``.
"""

from __future__ import annotations

from collections.abc import Iterable

import apache_beam as beam

from pipeline.records import FileResult
from pipeline.summary import Summary


class SummarizeResults(beam.CombineFn):  # type: ignore[misc]
    """FileResult* -> Summary."""

    def create_accumulator(self) -> Summary:
        return Summary()

    def add_input(self, accumulator: Summary, result: FileResult) -> Summary:
        accumulator.add(result)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Summary]) -> Summary:
        merged = Summary()
        for accumulator in accumulators:
            merged.merge(accumulator)
        return merged

    def extract_output(self, accumulator: Summary) -> Summary:
        return accumulator


class CountResults(beam.PTransform):  # type: ignore[misc]
    """PCollection[FileResult] -> a PCollection of one ``Summary``: how many files were
    uploaded, skipped and failed (and the rest of the run's counts), with the first
    failures listed. There is one Summary even when no result came at all (every count 0),
    so a pipeline can tell that it uploaded nothing, and why::

        sources | UploadSources(config) | CountResults() | beam.Map(report)
    """

    def expand(self, results: beam.PCollection) -> beam.PCollection:
        return results | "Summarize" >> beam.CombineGlobally(SummarizeResults())
