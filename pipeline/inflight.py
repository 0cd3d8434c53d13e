"""A DoFn base that keeps many transport requests in flight.

``submit`` starts a request whose completion callback (run on a transport thread) queues
its outcome; ``process`` yields the outputs of whatever has finished and waits only when
``window()`` requests are pending. ``finish_bundle`` waits for the rest, so no result
outlives its bundle. Each worker owns one transport, opened on first use.
"""

from __future__ import annotations

import abc
import functools
import queue
from collections.abc import Callable, Iterable, Iterator
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
        self._finished: queue.SimpleQueue[tuple[Context, Outcome]] | None = None
        self._pending = 0

    def transport(self) -> Transport:
        """This worker's transport, opened on first use (some runs need none)."""
        if self._transport is None:
            self._transport = open_transport(self._config)
        return self._transport

    def setup(self) -> None:
        self._finished = queue.SimpleQueue()
        self._pending = 0

    def teardown(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    def window(self) -> int:
        """How many requests may be pending before ``submit`` waits."""
        return self._config.concurrency

    @abc.abstractmethod
    def complete(self, context: Context, outcome: Outcome) -> Iterable[Any]:
        """The outputs for a finished request."""

    def _queue(self) -> queue.SimpleQueue[tuple[Context, Outcome]]:
        if self._finished is None:  # made in setup: a queue cannot be pickled with the DoFn
            self._finished = queue.SimpleQueue()
        return self._finished

    def _finish(self, context: Context, outcome: Outcome) -> None:
        self._queue().put((context, outcome))

    def submit(
        self, context: Context, start: Callable[[Callable[[Outcome], None]], None]
    ) -> Iterator[Any]:
        """Start a request with ``start(on_done)``; yield the outputs of finished ones."""
        self._pending += 1
        start(functools.partial(self._finish, context))
        yield from self._collect(wait=self._pending >= self.window())

    def _collect(self, wait: bool) -> Iterator[Any]:
        while self._pending:
            try:
                context, outcome = self._queue().get(block=wait)
            except queue.Empty:
                return
            self._pending -= 1
            wait = False
            yield from self.complete(context, outcome)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            context, outcome = self._queue().get()
            self._pending -= 1
            for output in self.complete(context, outcome):
                yield _windowed(output)


def _windowed(output: Any) -> Any:
    if isinstance(output, beam.pvalue.TaggedOutput):
        return beam.pvalue.TaggedOutput(output.tag, _windowed(output.value))
    return WindowedValue(output, MIN_TIMESTAMP, (GlobalWindow(),))
