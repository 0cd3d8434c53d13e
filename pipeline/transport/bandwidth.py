"""The upload bandwidth cap (``--bwlimit``): a token bucket and a body reader that pays it.

Every transfer of one run in a worker process takes its body's bytes from the same
``TokenBucket`` (``run_cap``), through a ``ThrottledReader``: a read returns once the
bucket allows its bytes, so the bodies of all transfers together are read, and so sent,
at no more than the cap on average. A bucket holds at most ``BURST`` bytes of credit,
so an idle worker cannot save up for a long burst.

A body is paid for once: bytes read again (a seek back to hash the body before sending
it, a request sent again after a failure) are not paid again, so the cap counts the
body's bytes, not the transport's passes over them.
"""

from __future__ import annotations

import errno
import io
import threading
import time
import weakref
from collections.abc import Callable
from typing import BinaryIO

CHUNK = 256 * 1024  # the most one read takes from the bucket at once
BURST = CHUNK  # the credit an idle bucket holds


class TokenBucket:
    """``rate`` bytes per second, shared by threads; waiters are served in turn.

    ``take(n)`` books the next ``n`` bytes at once (a reservation on a virtual clock)
    and then waits, outside the lock, until the rate allows them: no polling, and a
    large take just waits longer.
    """

    def __init__(
        self,
        rate: float,
        burst: int = BURST,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be more than 0 bytes per second")
        self.rate = rate
        self._credit_s = burst / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paid_until = float("-inf")  # when every byte booked so far may have gone
        self._held_total = 0.0  # seconds that some taker waited, up to _held_until
        self._held_until = float("-inf")

    def take(self, n: int, stop: threading.Event | None = None) -> None:
        """Wait until ``n`` more bytes may go (or until ``stop`` is set)."""
        if n <= 0:
            return
        with self._lock:
            now = self._clock()
            # An idle bucket's credit: the bytes may go up to _credit_s before they are paid.
            self._paid_until = max(self._paid_until, now) + n / self.rate
            ready = self._paid_until - self._credit_s
            wait = ready - now
            if wait > 0:  # the waits' union grows at its end: takes are booked in turn
                self._held_total += ready - max(now, self._held_until)
                self._held_until = ready
        if wait > 0:
            if stop is not None:
                stop.wait(wait)
            else:
                self._sleep(wait)

    def held_back(self) -> float:
        """Seconds so far during which the cap held some body back: what a request's
        deadline is pushed back by, for the part of it that fell while it was in flight."""
        with self._lock:
            return self._held_total - max(0.0, self._held_until - self._clock())


# The caps in use, by run and rate: a cap goes when the last transport using it does.
_CAPS: weakref.WeakValueDictionary[tuple[str, int], TokenBucket] = weakref.WeakValueDictionary()
_CAPS_LOCK = threading.Lock()


def run_cap(run: str, rate: int) -> TokenBucket | None:
    """The bucket that every transport of the run ``run`` in this process shares (so a
    worker running several upload threads still keeps to one cap, and another run in the
    same process keeps to its own); None for no cap."""
    if rate <= 0:
        return None
    with _CAPS_LOCK:
        cap = _CAPS.get((run, rate))
        if cap is None:
            cap = _CAPS[(run, rate)] = TokenBucket(rate)
        return cap


class ThrottledReader(io.BufferedIOBase):
    """A seekable binary file that pays ``bucket`` for each byte the first time it is
    read. Once ``stop`` is set (a cancelled run) reads fail with an error, or, with
    ``end_on_stop``, the body ends there: for a reader that checks the body's length
    itself and would print the traceback of an error (awscrt).

    ``on_paid`` gets the bytes as they are paid for (the progress of a transport that
    reports none of its own). Closing it closes ``raw``.
    """

    def __init__(
        self,
        raw: BinaryIO,
        bucket: TokenBucket,
        stop: threading.Event | None = None,
        on_paid: Callable[[int], None] | None = None,
        end_on_stop: bool = False,
    ) -> None:
        super().__init__()
        self._raw = raw
        self._bucket = bucket
        self._stop = stop
        self._on_paid = on_paid
        self._end_on_stop = end_on_stop
        self._pos = self._paid_to = raw.tell()
        self.stopped = False  # a read met ``stop``: the body was cut short

    def _stopped(self) -> bool:
        """True when the body should end here; raises when reads should fail."""
        if self._stop is None or not self._stop.is_set():
            return False
        self.stopped = True
        if self._end_on_stop:
            return True
        raise OSError(errno.ECANCELED, "upload cancelled")

    def readinto1(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """Up to ``CHUNK`` bytes, paid for."""
        if self._stopped():
            return 0
        with memoryview(buffer) as view, view.cast("B") as flat:
            got = self._raw.readinto(flat[:CHUNK])  # type: ignore[attr-defined]
        if not got:
            return 0
        end = self._pos + got
        fresh = end - max(self._pos, self._paid_to)
        if fresh > 0:
            self._bucket.take(fresh, self._stop)
            if self._stopped():
                self._raw.seek(self._pos)
                return 0
            self._paid_to = end
            if self._on_paid is not None:
                self._on_paid(fresh)
        self._pos = end
        return got

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        """As many bytes as fit, unless the end comes first (as a buffered file does)."""
        with memoryview(buffer) as view, view.cast("B") as flat:
            filled = 0
            while filled < len(flat):
                got = self.readinto1(flat[filled:])
                if not got:
                    break
                filled += got
        return filled

    def read1(self, size: int | None = -1) -> bytes:
        return self._read(CHUNK if size is None or size < 0 else size, self.readinto1)

    def read(self, size: int | None = -1) -> bytes:
        return self._read(size, self.readinto)

    def _read(self, size: int | None, readinto: Callable[[bytearray], int]) -> bytes:
        if size is None or size < 0:
            chunks = []
            while chunk := self.read1(CHUNK):
                chunks.append(chunk)
            return b"".join(chunks)
        buffer = bytearray(size)
        got = readinto(buffer)
        del buffer[got:]
        return bytes(buffer)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = self._raw.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def throttled_body(
    path: str | None,
    data: bytes | None,
    bucket: TokenBucket,
    stop: threading.Event | None = None,
    on_paid: Callable[[int], None] | None = None,
    end_on_stop: bool = False,
) -> ThrottledReader:
    """The body of a PUT (the file at ``path``, or ``data``) read through ``bucket``;
    streamed from disk, never read whole into memory. OSError if it cannot be opened."""
    raw: BinaryIO = io.BytesIO(data) if data is not None else open(path or "", "rb")  # noqa: SIM115
    return ThrottledReader(raw, bucket, stop, on_paid, end_on_stop)
