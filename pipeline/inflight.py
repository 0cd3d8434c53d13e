"""A DoFn base that keeps many transport requests in flight.

``submit`` starts a request whose completion callback (run on a transport thread) queues
its outcome; ``process`` yields the outputs of whatever has finished and waits only when
``--concurrency`` requests (or ``IN_FLIGHT_BYTES`` of bodies) are pending.
``finish_bundle`` waits for the rest, so no result outlives its bundle. Each worker owns
one transport, opened on first use. While it waits, a stop request of the run's observer
(Ctrl-C) calls ``on_interrupt`` (which cancels the transfers in flight).
"""

from __future__ import annotations

import abc
import functools
import queue
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, NamedTuple, TypeVar

import apache_beam as beam
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MIN_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from pipeline.observer import SILENT, RunObserver
from pipeline.options import BodyOptions, DecisionOptions, TargetOptions, TransportOptions
from pipeline.transport import Transport, open_transport

IN_FLIGHT_BYTES = 64 * 1024 * 1024  # bodies of single PUTs in flight per worker
_POLL_S = 0.5  # how often a wait looks for Ctrl-C and for requests past their deadline
Context = TypeVar("Context")
Outcome = TypeVar("Outcome")


class InFlightDoFn(beam.DoFn, Generic[Context, Outcome], abc.ABC):  # type: ignore[misc]
    def __init__(
        self, target: TargetOptions, transport: TransportOptions, observer: RunObserver = SILENT
    ) -> None:
        super().__init__()
        self._target = target
        self._observer = observer  # asked whether to stop (Ctrl-C)
        self._options = transport
        self._transport: Transport | None = None
        self._finished: queue.SimpleQueue[tuple[Context, int, Outcome]] | None = None
        self._pending = 0
        self._pending_bytes = 0

    def transport(self) -> Transport:
        """This worker's transport, opened on first use (some runs need none)."""
        if self._transport is None:
            self._transport = open_transport(self._target, self._options)
        return self._transport

    def setup(self) -> None:
        self._finished = queue.SimpleQueue()
        self._pending = 0
        self._pending_bytes = 0

    def teardown(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    @abc.abstractmethod
    def complete(self, context: Context, outcome: Outcome) -> Iterable[Any]:
        """The outputs for a finished request."""

    def _queue(self) -> queue.SimpleQueue[tuple[Context, int, Outcome]]:
        if self._finished is None:  # made in setup: a queue cannot be pickled with the DoFn
            self._finished = queue.SimpleQueue()
        return self._finished

    def _finish(self, context: Context, size: int, outcome: Outcome) -> None:
        self._queue().put((context, size, outcome))

    def _full(self) -> bool:
        window = self._options.concurrency
        return self._pending >= window or self._pending_bytes >= IN_FLIGHT_BYTES

    def submit(
        self,
        context: Context,
        start: Callable[[Callable[[Outcome], None]], None],
        size: int = 0,
    ) -> Iterator[Any]:
        """Start a request with ``start(on_done)``; yield the outputs of finished ones.

        ``size`` is what the request holds in memory while in flight (its body).
        """
        self.follow_up(context, start, size)
        wait = self._full()
        while self._pending:
            try:
                yield from self._complete_one(block=wait)
            except queue.Empty:
                return
            wait = self._full()

    def follow_up(
        self, context: Context, start: Callable[[Callable[[Outcome], None]], None], size: int = 0
    ) -> None:
        """Start another request (holding ``size`` bytes), whose outcome comes back to
        ``complete`` with ``context`` as the others' do, without waiting for room: this
        is how ``complete`` starts one (it runs inside a wait, and a wait in it would
        nest), and how ``submit`` starts one before it waits."""
        self._pending += 1
        self._pending_bytes += size
        start(functools.partial(self._finish, context, size))

    def on_interrupt(self) -> None:
        """Called (repeatedly) while waiting after Ctrl-C/SIGTERM; e.g. cancel transfers."""

    def _complete_one(self, block: bool) -> Iterator[Any]:
        if block:
            while True:
                try:
                    context, size, outcome = self._queue().get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    if self._observer.stop_requested():
                        self.on_interrupt()
                    elif self._transport is not None:
                        self._transport.cancel_expired()
        else:
            context, size, outcome = self._queue().get(block=False)
        self._pending -= 1
        self._pending_bytes -= size
        yield from self.complete(context, outcome)

    def finish_bundle(self) -> Iterator[Any]:
        while self._pending:
            for output in self._complete_one(block=True):
                yield _windowed(output)


def _windowed(output: Any) -> WindowedValue:
    return WindowedValue(output, MIN_TIMESTAMP, (GlobalWindow(),))


class PutSettings(NamedTuple):
    """The option groups that both steps of a put read: where, how, when and what."""

    target: TargetOptions
    transport: TransportOptions
    decision: DecisionOptions
    body: BodyOptions


class PutStepFn(InFlightDoFn[Context, Outcome], abc.ABC):
    """A step of a put in flight: deciding it (``DecidePutFn``), sending it (``UploadFn``)."""

    def __init__(self, settings: PutSettings, observer: RunObserver = SILENT) -> None:
        super().__init__(settings.target, settings.transport, observer)
        self._decision = settings.decision
        self._body = settings.body
