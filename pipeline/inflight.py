"""A DoFn base that keeps many transport requests in flight.

``process`` submits a request and yields whatever has finished; when ``limit`` requests
are pending it waits for the oldest. ``finish_bundle`` waits for the rest, so no result
outlives its bundle. Each worker owns one transport, made in ``setup``.
"""

from __future__ import annotations

import abc
import collections
from collections.abc import Iterable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.config import UploadConfig
from pipeline.transport import Transport, open_transport

Context = TypeVar("Context")
Outcome = TypeVar("Outcome")


class InFlightDoFn(beam.DoFn, Generic[Context, Outcome], abc.ABC):  # type: ignore[misc]
    def __init__(self, config: UploadConfig) -> None:
        super().__init__()
        self._config = config
        self._transport: Transport | None = None
        self._pending: collections.deque[tuple[Context, Future[Outcome]]] = collections.deque()

    def transport(self) -> Transport:
        """This worker's transport, opened on first use (some runs need none)."""
        if self._transport is None:
            self._transport = open_transport(self._config)
        return self._transport

    def setup(self) -> None:
        self._pending = collections.deque()

    def teardown(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @abc.abstractmethod
    def complete(self, context: Context, outcome: Outcome) -> Iterable[Any]:
        """The outputs for a finished request."""

    def submit(self, context: Context, future: Future[Outcome]) -> Iterator[Any]:
        """Add a request; yield the outputs of those that are done, waiting if full."""
        self._pending.append((context, future))
        while self._pending and (
            len(self._pending) >= self._config.concurrency or self._pending[0][1].done()
        ):
            done_context, done_future = self._pending.popleft()
            yield from self.complete(done_context, done_future.result())

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            context, future = self._pending.popleft()
            for output in self.complete(context, future.result()):
                yield _windowed(output)


def _windowed(output: Any) -> Any:
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, _windowed(output.value))
    return WindowedValue(output, MIN_TIMESTAMP, (GlobalWindow(),))
