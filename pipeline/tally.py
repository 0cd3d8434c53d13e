"""A worker's counts of a run, sent to the client's relay as they change.

In a process other than the client's, the observer of a run whose client relays
progress (``pipeline.relay``) is this process's ``WorkerTally``: it counts files found,
files done (failed, not started) and bytes sent, as the run's Beam counters name them,
and sends its counts to the client about once a second, only when they changed. A
tally that cannot reach the client gives up after a few tries; it never slows the run.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import threading
import time
import uuid
from urllib.parse import urlsplit

from pipeline.counters import Counter
from pipeline.observer import BytesSent, RunObserver, live_observer
from pipeline.records import Action, FileResult, LocalFile

_LOGGER = logging.getLogger(__name__)

SEND_EVERY_S = 1.0
_SEND_TIMEOUT_S = 2.0
_GIVE_UP_AFTER = 3  # failed sends in a row
COUNTS = (
    Counter.FILES_FOUND.value,
    Counter.FILES.value,
    Counter.FILES_FAILED.value,
    Counter.FILES_NOT_STARTED.value,
    Counter.BYTES_UPLOADED.value,
)


def resolve(pid: int, token: int, url: str) -> RunObserver:
    """A relayed observer's reference unpickled: the live observer in the process that
    made it, else this process's tally for the relay at ``url``."""
    found = live_observer(pid, token)
    return found if found is not None else worker_tally(url)


_TALLIES: dict[str, WorkerTally] = {}
_TALLIES_LOCK = threading.Lock()


def worker_tally(url: str) -> WorkerTally:
    """This process's tally for the relay at ``url`` (one per process and run)."""
    with _TALLIES_LOCK:
        tally = _TALLIES.get(url)
        if tally is None or tally.pid != os.getpid():  # a forked child counts anew
            tally = _TALLIES[url] = WorkerTally(url)
        return tally


class WorkerTally(RunObserver):
    """A worker process's counts of a run, sent to the client's relay as they change."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host, self._port = parts.hostname or "", parts.port or 80
        self._path = f"{parts.path}/{uuid.uuid4().hex}"
        self.pid = os.getpid()
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTS, 0)
        self._changed = threading.Event()
        self._sender: threading.Thread | None = None
        self.failed_sends = 0

    def _add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n
            if self._sender is None and self.failed_sends < _GIVE_UP_AFTER:
                self._sender = threading.Thread(target=self._send_loop, daemon=True)
                self._sender.start()
        self._changed.set()

    def found(self, item: LocalFile | FileResult) -> None:
        self._add(Counter.FILES_FOUND.value)

    def transfer(self) -> BytesSent:
        return _TallyTransfer(self)

    def finished(self, result: FileResult) -> None:
        if result.deletion:
            return
        self._add(Counter.FILES.value)
        if result.action is Action.FAILED:
            self._add(Counter.FILES_FAILED.value)
        elif result.action is Action.NOT_STARTED:
            self._add(Counter.FILES_NOT_STARTED.value)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def _send_loop(self) -> None:
        while True:
            self._changed.wait()
            self._changed.clear()
            if self.send():
                self.failed_sends = 0
            else:
                self.failed_sends += 1
                if self.failed_sends >= _GIVE_UP_AFTER:
                    break
                self._changed.set()  # what was not sent goes again
            time.sleep(SEND_EVERY_S)
        _LOGGER.info("progress cannot reach the client: the client follows the job's counts")

    def send(self) -> bool:
        """Send the counts now; whether the relay took them."""
        body = json.dumps(self.counts()).encode()
        connection = http.client.HTTPConnection(self._host, self._port, timeout=_SEND_TIMEOUT_S)
        try:
            connection.request("PUT", self._path, body, {"Content-Type": "application/json"})
            return connection.getresponse().status == 204
        except OSError:
            return False
        finally:
            connection.close()


class _TallyTransfer:
    """An upload's bytes in the worker's count: as sent (on transport threads), then
    what the attempt kept."""

    def __init__(self, tally: WorkerTally) -> None:
        self._tally = tally
        self._lock = threading.Lock()
        self._counted = 0

    def sent(self, size: int) -> None:
        with self._lock:
            self._counted += size
        self._tally._add(Counter.BYTES_UPLOADED.value, size)

    def settle(self, kept: int) -> None:
        with self._lock:
            change, self._counted = kept - self._counted, kept
        self._tally._add(Counter.BYTES_UPLOADED.value, change)
