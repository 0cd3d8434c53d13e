"""Progress from workers in other processes: they tell the client, which tells the bar.

Where the steps run in other processes (a cluster's workers, the local runner's worker
processes), the run's observer is silent there, and Beam hands a bundle's counts to the
runner only when the bundle ends: on Flink, a batch task's whole share is one bundle,
so the job's counters (and Flink's record counts) stand still until a worker is done.

So the client serves a small HTTP endpoint for the run (``Relay``), at the address it
reaches the cluster from, under a path with a secret of the run. The observer passed to
the pipeline (``Relay.observer``) pickles into a ``WorkerTally`` in every other process
(``pipeline.tally``), which sends that process's counts about once a second. The relay
sums the latest counts of each worker and tells the client's observer ``job_counts``:
the larger of each count and the job's own counters so far. A worker that cannot reach
the client gives up after a few tries and never slows the run; the bar then moves as
the job's counters do. The summary always comes from the job's counters at its end,
never from these.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from pipeline.observer import Observers, RunObserver
from pipeline.plan import RunnerKind, RunPlan
from pipeline.tally import COUNTS, resolve

_LOGGER = logging.getLogger(__name__)

_MAX_BODY = 1024
_MAX_WORKER_ID = 64
_POLL_S = 0.05  # how soon the endpoint closes once the run has ended


def relay_host(plan: RunPlan) -> str | None:
    """Where the client serves its relay: on loopback for workers on this machine, at
    its address towards the Flink cluster or job service otherwise; None where workers
    could not be expected to reach it (another remote runner) or are this process."""
    if plan.works_here:
        return None
    if plan.runner is RunnerKind.LOCAL_PROCESSES:
        return "127.0.0.1"
    if plan.runner is RunnerKind.FLINK and plan.flink_master:
        endpoint = plan.flink_master
    elif plan.runner is RunnerKind.PORTABLE:
        from apache_beam.options.pipeline_options import PortableOptions

        endpoint = plan.options.view_as(PortableOptions).job_endpoint or ""
    else:
        return None
    parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
    if not parts.hostname or not parts.port:  # a job service that this client starts
        return "127.0.0.1"
    return address_towards(parts.hostname, parts.port)


@contextlib.contextmanager
def relayed(plan: RunPlan, observer: RunObserver) -> Iterator[RunObserver]:
    """The observer to run the pipeline with: ``observer`` itself, or, where it follows
    a job that runs in other processes, one that hears their workers' counts too."""
    host = relay_host(plan) if observer.wants_job_counts() else None
    if host is None:
        yield observer
        return
    try:
        relay = Relay(observer, host)
    except OSError as e:
        _LOGGER.info("no progress from the workers (cannot listen on %s: %s)", host, e)
        yield observer
        return
    with relay:
        yield relay.observer


def address_towards(host: str, port: int) -> str | None:
    """This machine's address on the way to ``host`` (no packet is sent), or None when
    there is no route to it."""
    try:
        family, kind, proto, _, peer = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.connect(peer)
            return str(probe.getsockname()[0])
    except OSError:
        return None


class Relay:
    """The client's end: an HTTP endpoint that workers send their counts to, and the
    observer to pass to the pipeline in place of ``observer``."""

    def __init__(self, observer: RunObserver, host: str) -> None:
        self._inner = observer
        self._secret = secrets.token_hex(16)
        self._lock = threading.Lock()
        self._workers: dict[str, dict[str, int]] = {}
        self._job: dict[str, int] = {}
        self._server = _Server((host, 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_S,), name="s3pp-relay", daemon=True
        )
        port = self._server.server_address[1]
        shown = f"[{host}]" if ":" in host else host
        self.url = f"http://{shown}:{port}/{self._secret}"
        self.observer = RelayedObserver(observer, self)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def accept(self, path: str, body: bytes) -> bool:
        """A worker's counts at ``/<secret>/<worker>``; False for anything else."""
        secret, _, worker = path.lstrip("/").partition("/")
        ours = secrets.compare_digest(secret.encode(errors="replace"), self._secret.encode())
        if not ours or not 0 < len(worker) <= _MAX_WORKER_ID or "/" in worker:
            return False
        try:
            sent = json.loads(body)
            counts = {name: int(sent.get(name, 0)) for name in COUNTS}
        except (ValueError, TypeError, AttributeError):
            return False
        with self._lock:
            self._workers[worker] = counts
            self._tell()
        return True

    def job_counts(self, counters: dict[str, int]) -> None:
        with self._lock:
            self._job = dict(counters)
            self._tell()

    def _tell(self) -> None:
        """The observer hears the merged counts (under the lock: in the order they came)."""
        merged = dict(self._job)
        for name in COUNTS:
            from_workers = sum(counts[name] for counts in self._workers.values())
            merged[name] = max(merged.get(name, 0), from_workers)
        self._inner.job_counts(merged)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request it could not answer is dropped, never printed on the terminal."""
        _LOGGER.debug("progress relay: a request from %s failed", client_address, exc_info=True)


def _handler_for(relay: Relay) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            given = self.headers.get("Content-Length", "")
            length = int(given) if given.isdigit() else 0
            if not 0 < length <= _MAX_BODY:
                self.send_error(413)
                return
            accepted = relay.accept(self.path, self.rfile.read(length))
            self.send_response(204 if accepted else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Requests are not logged (the path holds the run's secret)."""

    return Handler


class RelayedObserver(Observers):
    """The client's observer, with the job's counts merged with the workers'; in any
    other process it is that process's ``WorkerTally``."""

    def __init__(self, inner: RunObserver, relay: Relay) -> None:
        super().__init__(inner)
        self._relay = relay
        self.relay_url = relay.url

    def job_counts(self, counters: dict[str, int]) -> None:
        self._relay.job_counts(counters)

    def __reduce__(self) -> tuple[Any, ...]:
        return (resolve, (*self.reference(), self.relay_url))
