"""The requests in flight on one awscrt S3 client: each kept alive until awscrt is done
with it, its answer gathered whole, and one still running past its deadline cancelled.

A request's deadline is ``--timeout`` plus time for its body; the time the ``--bwlimit``
cap holds bodies back meanwhile does not count against it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from awscrt.s3 import S3Client

from pipeline.transport.bandwidth import TokenBucket
from pipeline.transport.crt_answer import Answer, crt_error_text

_SLOWEST_BYTES_PER_S = 256 * 1024  # a body gets --timeout plus this long per byte


class CrtRequests:
    """Sends requests on ``client`` and keeps them until done; ``timeout`` in seconds,
    ``cap`` the bandwidth cap that bodies are read through (None: no cap)."""

    def __init__(self, client: S3Client, timeout: float, cap: TokenBucket | None) -> None:
        self._client = client
        self._timeout = timeout
        self._cap = cap
        self._lock = threading.Lock()
        # Keeps each S3Request alive until it is done, with its deadline less the time the
        # cap had held bodies back when it started (see _held_back).
        self._live: dict[int, tuple[Any, float]] = {}
        self._done_early: set[int] = set()
        self._expired: set[int] = set()  # cancelled by cancel_expired, not yet done

    def send(self, finished: Callable[[Answer], None], size: int = 0, **request: Any) -> None:
        """make_request; ``finished`` gets the whole answer, once, on a CRT thread.

        The request is kept alive until it is done; one refused at once also finishes. One
        still running past its deadline (``--timeout`` plus time for ``size`` bytes at
        ``_SLOWEST_BYTES_PER_S``, pushed back by the time ``--bwlimit`` held bodies back
        meanwhile) is cancelled by ``cancel_expired`` and reported as timed out, which the
        upload retries.
        """
        answer = Answer()
        token = id(answer)
        deadline = time.monotonic() + self._timeout + size / _SLOWEST_BYTES_PER_S
        deadline -= self._held_back()

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer.status = status_code
            answer.headers = {name.lower(): value for name, value in headers}

        def on_body(chunk: bytes, **_: Any) -> None:
            answer.body.extend(chunk)

        def on_done(
            error: BaseException | None = None,
            status_code: int | None = None,
            error_body: bytes | None = None,
            **_: Any,
        ) -> None:
            timed_out = self._untrack(token)
            answer.status = status_code or answer.status
            answer.error = None if error is None else crt_error_text(error)
            answer.error_name = getattr(error, "name", "") if error is not None else ""
            # Cancelled by cancel_all (Ctrl-C); one cancelled for its deadline is retried.
            canceled = getattr(error, "name", "") == "AWS_ERROR_S3_CANCELED"
            answer.cancelled = canceled and not timed_out
            if timed_out and error is not None:
                answer.error = f"timed out after {self._timeout:g} s ({answer.error})"
                answer.timed_out = True
            answer.error_body = error_body
            finished(answer)

        try:
            started = self._client.make_request(
                on_headers=on_headers, on_body=on_body, on_done=on_done, **request
            )
        except (RuntimeError, ValueError, OSError) as e:  # awscrt refuses bad arguments so
            answer.error = str(e)
            finished(answer)
            return
        self._track(token, started, deadline)

    def _track(self, token: int, request: Any, deadline: float) -> None:
        """Keep ``request`` alive until its on_done has run (which may already be so)."""
        with self._lock:
            if token in self._done_early:
                self._done_early.discard(token)
            else:
                self._live[token] = (request, deadline)

    def _untrack(self, token: int) -> bool:
        """Forget a finished request; True when it was cancelled for its deadline."""
        with self._lock:
            if self._live.pop(token, None) is None:
                self._done_early.add(token)
            if token in self._expired:
                self._expired.discard(token)
                return True
            return False

    def _held_back(self) -> float:
        """Seconds so far that the bandwidth cap held bodies back."""
        return 0.0 if self._cap is None else self._cap.held_back()

    def cancel_expired(self) -> None:
        """Cancel the requests past their deadline (reported as timed out)."""
        now = time.monotonic() - self._held_back()
        with self._lock:
            late = [
                (t, r) for t, (r, d) in self._live.items() if d < now and t not in self._expired
            ]
            self._expired.update(t for t, _ in late)
        for _, request in late:
            request.cancel()

    def cancel_all(self) -> None:
        """Cancel every request still in flight."""
        with self._lock:
            live = [request for request, _ in self._live.values()]
        for request in live:
            request.cancel()

    def close(self) -> None:
        """Forget the requests and let go of the client."""
        with self._lock:
            self._live.clear()
        self._client = None  # type: ignore[assignment]
