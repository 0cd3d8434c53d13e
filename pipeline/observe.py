"""Observing results as they pass: the run's Beam counters, and its observer told.

``ObserveResultsFn`` counts every FileResult (files, bytes, retries, one counter per
action: the counts of the run's summary on every runner) and tells the run's observer
(``pipeline.observer``) of it, then passes it on.
"""

from __future__ import annotations

from collections.abc import Iterator

import apache_beam as beam

from pipeline.counters import Counter
from pipeline.observer import SILENT, RunObserver
from pipeline.records import Action, FileResult


class ObserveResultsFn(beam.DoFn):  # type: ignore[misc]
    """FileResult -> the same, counted and told to the observer."""

    def __init__(self, observer: RunObserver = SILENT) -> None:
        super().__init__()
        self._observer = observer
        self._files = Counter.FILES.metric()
        self._bytes = Counter.BYTES_UPLOADED.metric()
        self._bytes_read = Counter.BYTES_READ.metric()
        self._retries = Counter.RETRIES.metric()
        self._incomplete = Counter.WALK_INCOMPLETE.metric()
        self._by_action = {action: Counter.of(action).metric() for action in Action}

    def process(self, result: FileResult) -> Iterator[FileResult]:
        if not result.deletion:
            self._files.inc()
        self._by_action[result.action].inc()
        if result.walk_incomplete:
            self._incomplete.inc()
        if result.action is Action.UPLOADED:
            self._bytes.inc(result.bytes_sent)
            self._bytes_read.inc(result.size)
        if result.retries:
            self._retries.inc(result.retries)
        self._observer.finished(result)
        yield result
