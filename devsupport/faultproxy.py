"""A fault-injecting HTTP/1.1 proxy for tests: sits between an S3 client and a loopback server.

Point the client at ``proxy.endpoint_url``; the proxy forwards every request to
``127.0.0.1:<upstream_port>`` byte for byte (request line, headers including ``Host`` naming
the proxy's port, and body framing), so SigV4 signatures stay valid: the server checks them
against the ``Host`` header it receives. Per request, with the probabilities of a
``FaultRules``, it injects one fault instead of (or while) forwarding::

    rules = FaultRules(slowdown=0.1, reset_response=0.1, predicate=lambda m, t: m == "PUT")
    with FaultProxy(server.port, rules, seed=1) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.endpoint_url, ...)
        ...
        print(proxy.stats)

Fault kinds (``FAULT_KINDS``):

- ``slowdown``, ``internal_error``, ``request_timeout``, ``not_implemented``: answer 503
  SlowDown / 500 InternalError / 400 RequestTimeout / 501 NotImplemented (what a server
  says to a header it does not implement) with an S3 XML error body and ``Connection: close``,
  without forwarding (the request body is read first unless the client waits for
  ``100 Continue``, in which case the error is the answer to its expectation);
- ``reset_request``: read part of the request body, then reset the connection (RST);
- ``reset_response``: forward, then relay the first half of the response bytes and reset;
- ``stall``: forward, then wait ``stall_seconds`` before relaying the response;
- ``truncate_body``: forward, relay the head and half the body, then close (FIN); a response
  without a body is cut inside its status line instead, so the fault is always visible;
- ``corrupt_request_body``: flip one byte of the request payload before forwarding (inside
  the data of an ``aws-chunked`` body, never its framing); requests without a body are
  forwarded untouched and do not count.

``proxy.before_forward``, when set, is called with ``(method, target)`` of each request
just before it is forwarded upstream (its body read, nothing of it sent yet): a test acts
there on the server "in between", e.g. another writer stores the key of a PUT first, or
holds the request there (a held answer) until it lets it go. If it raises ``Drop``, the
request is not forwarded and the client's connection is reset (counted as ``dropped``):
a request from a client that is gone, which must never reach the server.

``proxy.rewrite_response``, when set, is called with ``(method, target, response)`` of
each forwarded response and returns the response to relay (``dataclasses.replace`` its
``head`` or ``body``, keeping Content-Length true): a server that answers otherwise.

``proxy.stats`` counts connections, requests seen, requests forwarded, and each fault kind
injected (counted before the client can observe the fault). Draws come from
``random.Random(seed)`` under a lock, so for one sequential client the faults are a pure
function of the seed; with concurrent clients they depend on arrival order. ``proxy.rules``
may be swapped at any time (the ``max_faults`` budget starts over).

The proxy is simple on purpose: one thread and one upstream connection per client
connection, whole messages buffered in memory, every socket with a timeout, a cap on
connections, and everything closed and joined on exit. Only loopback is ever used.
"""

from __future__ import annotations

import contextlib
import email.utils
import itertools
import logging
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from devsupport.service import Service

__all__ = ["FAULT_KINDS", "Drop", "FaultProxy", "FaultRules"]

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
FAULT_KINDS: tuple[str, ...] = (
    "slowdown",
    "internal_error",
    "request_timeout",
    "not_implemented",
    "reset_request",
    "reset_response",
    "stall",
    "truncate_body",
    "corrupt_request_body",
)
MAX_STALL_S = 60.0
_MAX_HEAD_BYTES = 64 * 1024
_MAX_LINE_BYTES = 8 * 1024
_RECV_BYTES = 256 * 1024
_DRAIN_S = 1.0
_JOIN_S = 10.0

# kind -> (status, reason, S3 error code, message)
_ERROR_ANSWERS: dict[str, tuple[int, str, str, str]] = {
    "slowdown": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "internal_error": (
        500,
        "Internal Server Error",
        "InternalError",
        "We encountered an internal error. Please try again.",
    ),
    "not_implemented": (
        501,
        "Not Implemented",
        "NotImplemented",
        "A header you provided implies functionality that is not implemented",
    ),
    "request_timeout": (
        400,
        "Bad Request",
        "RequestTimeout",
        "Your socket connection to the server was not read from or written to within the "
        "timeout period. Idle connections will be closed.",
    ),
}

Predicate = Callable[[str, str], bool]


@dataclass(frozen=True)
class FaultRules:
    """Per-request fault probabilities (each 0..1, summing to at most 1).

    One uniform draw per eligible request picks at most one fault kind. ``predicate`` gets
    ``(method, target)`` -- target is the raw request target, path plus query string, e.g.
    ``"/bucket/key?uploadId=..."`` -- and says whether the request may be faulted at all;
    so does ``header`` (a header name), when set: only requests carrying it may be.
    ``max_faults`` caps the number of faults injected under these rules.
    """

    slowdown: float = 0.0
    internal_error: float = 0.0
    request_timeout: float = 0.0
    not_implemented: float = 0.0
    reset_request: float = 0.0
    reset_response: float = 0.0
    stall: float = 0.0
    truncate_body: float = 0.0
    corrupt_request_body: float = 0.0
    stall_seconds: float = 2.0
    predicate: Predicate | None = None
    max_faults: int | None = None
    header: str = ""

    def __post_init__(self) -> None:
        for kind in FAULT_KINDS:
            p = getattr(self, kind)
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{kind} probability must be within 0..1, not {p!r}")
        total = sum(self.probabilities().values())
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total}, more than 1")
        if not 0.0 <= self.stall_seconds <= MAX_STALL_S:
            raise ValueError(f"stall_seconds must be within 0..{MAX_STALL_S:.0f}")
        if self.max_faults is not None and self.max_faults < 0:
            raise ValueError("max_faults must not be negative")

    def probabilities(self) -> dict[str, float]:
        return {kind: float(getattr(self, kind)) for kind in FAULT_KINDS}

    @classmethod
    def uniform(
        cls,
        total: float,
        kinds: Iterable[str] = FAULT_KINDS,
        *,
        stall_seconds: float = 2.0,
        predicate: Predicate | None = None,
        max_faults: int | None = None,
    ) -> FaultRules:
        """Rules spreading probability ``total`` evenly over ``kinds``."""
        chosen = list(dict.fromkeys(kinds))
        unknown = set(chosen) - set(FAULT_KINDS)
        if unknown or not chosen:
            raise ValueError(f"unknown or no fault kinds: {sorted(unknown)}")
        share = total / len(chosen)
        return cls(
            **{kind: share for kind in chosen},
            stall_seconds=stall_seconds,
            predicate=predicate,
            max_faults=max_faults,
        )


class Drop(Exception):
    """Raised by ``before_forward``: reset the client's connection, forward nothing."""


class _ProtocolError(Exception):
    """The peer sent something this proxy cannot frame."""


class _Reader:
    """Buffered reads from a socket, returning exactly the bytes received."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()
        self.received = 0  # bytes ever received

    def _fill(self) -> bool:
        data = self.sock.recv(_RECV_BYTES)
        if not data:
            return False
        self.received += len(data)
        self.buf += data
        return True

    def read_head(self) -> bytes | None:
        """A message head up to and including the blank line; None on EOF before any byte."""
        while True:
            while self.buf.startswith(b"\r\n"):  # RFC 9112 2.2: ignore leading empty lines
                del self.buf[:2]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[: end + 4])
                del self.buf[: end + 4]
                return head
            if len(self.buf) > _MAX_HEAD_BYTES:
                raise _ProtocolError("message head too large")
            if not self._fill():
                if not self.buf:
                    return None
                raise _ProtocolError("EOF inside a message head")

    def read_line(self) -> bytes:
        while True:
            end = self.buf.find(b"\r\n")
            if end >= 0:
                line = bytes(self.buf[: end + 2])
                del self.buf[: end + 2]
                return line
            if len(self.buf) > _MAX_LINE_BYTES:
                raise _ProtocolError("line too long")
            if not self._fill():
                raise _ProtocolError("EOF inside a line")

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise _ProtocolError(f"EOF after {len(self.buf)} of {n} bytes")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_some(self, limit: int) -> bytes:
        if not self.buf:
            self._fill()
        data = bytes(self.buf[:limit])
        del self.buf[:limit]
        return data

    def read_to_eof(self, limit: int) -> bytes:
        """Everything up to EOF; a reset also ends a close-delimited body."""
        with contextlib.suppress(ConnectionResetError):
            while self._fill():
                if len(self.buf) > limit:
                    raise _ProtocolError("close-delimited body too large")
        data = bytes(self.buf)
        self.buf.clear()
        return data


@dataclass
class _Head:
    raw: bytes
    first_line: str
    headers: list[tuple[str, str]]

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def tokens(self, name: str) -> list[str]:
        return [
            token.strip().lower()
            for value in self.values(name)
            for token in value.split(",")
            if token.strip()
        ]

    @property
    def chunked(self) -> bool:
        codings = self.tokens("transfer-encoding")
        return bool(codings) and codings[-1] == "chunked"

    @property
    def content_length(self) -> int | None:
        values = {value.strip() for value in self.values("content-length")}
        if not values:
            return None
        if len(values) > 1 or not next(iter(values)).isdigit():
            raise _ProtocolError(f"bad Content-Length: {sorted(values)}")
        return int(values.pop())


def _parse_head(raw: bytes) -> _Head:
    lines = raw[:-4].decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise _ProtocolError(f"bad header line: {line!r}")
        headers.append((name.lower(), value.strip()))
    return _Head(raw, lines[0], headers)


@dataclass
class _Request:
    head: _Head
    method: str
    target: str
    version: str

    @property
    def has_body(self) -> bool:
        return self.head.chunked or (self.head.content_length or 0) > 0

    @property
    def expects_continue(self) -> bool:
        return (
            self.version == "HTTP/1.1"
            and "100-continue" in self.head.tokens("expect")
            and self.has_body
        )

    @property
    def wants_close(self) -> bool:
        tokens = self.head.tokens("connection")
        return "close" in tokens or (self.version != "HTTP/1.1" and "keep-alive" not in tokens)


def _parse_request(raw: bytes) -> _Request:
    head = _parse_head(raw)
    parts = head.first_line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _ProtocolError(f"bad request line: {head.first_line!r}")
    if head.values("transfer-encoding") and not head.chunked:
        raise _ProtocolError("request Transfer-Encoding without chunked")
    head.content_length  # noqa: B018 - validates it
    return _Request(head, parts[0], parts[1], parts[2])


@dataclass
class _Body:
    raw: bytes
    spans: list[tuple[int, int]]  # (offset, length) of the payload data inside raw


def _read_chunked(reader: _Reader, limit: int) -> _Body:
    raw = bytearray()
    spans: list[tuple[int, int]] = []
    while True:
        line = reader.read_line()
        raw += line
        size_text = line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise _ProtocolError(f"bad chunk size line: {line!r}") from None
        if size == 0:
            while True:  # trailer section, ends with an empty line
                trailer = reader.read_line()
                raw += trailer
                if trailer == b"\r\n":
                    return _Body(bytes(raw), spans)
                if len(raw) > limit:
                    raise _ProtocolError("trailers too large")
        if len(raw) + size > limit:
            raise _ProtocolError("chunked body too large")
        spans.append((len(raw), size))
        raw += reader.read_exact(size)
        crlf = reader.read_exact(2)
        if crlf != b"\r\n":
            raise _ProtocolError("chunk data not followed by CRLF")
        raw += crlf


def _read_request_body(reader: _Reader, request: _Request, limit: int) -> _Body:
    if request.head.chunked:
        return _read_chunked(reader, limit)
    length = request.head.content_length or 0
    if length > limit:
        raise _ProtocolError("request body too large")
    return _Body(reader.read_exact(length), [(0, length)] if length else [])


def _chunk_spans(data: bytes) -> list[tuple[int, int]] | None:
    """Data spans of chunked framing (as in aws-chunked) inside ``data``; None if malformed."""
    spans: list[tuple[int, int]] = []
    pos = 0
    while True:
        end = data.find(b"\r\n", pos)
        if end < 0:
            return None
        try:
            size = int(data[pos:end].split(b";", 1)[0].strip(), 16)
        except ValueError:
            return None
        if size == 0:
            return spans
        start = end + 2
        if start + size + 2 > len(data):
            return None
        spans.append((start, size))
        pos = start + size + 2


def _corrupt_offset(request: _Request, body: _Body) -> int | None:
    """Offset in ``body.raw`` of a payload byte to flip (mid-payload), None if no payload."""
    payload = b"".join(body.raw[start : start + size] for start, size in body.spans)
    if not payload:
        return None
    target = len(payload) // 2
    aws_chunked = "aws-chunked" in request.head.tokens("content-encoding") or any(
        value.upper().startswith("STREAMING-")
        for value in request.head.values("x-amz-content-sha256")
    )
    if aws_chunked:
        inner = [span for span in _chunk_spans(payload) or [] if span[1]]
        if not inner:
            return None
        start, size = max(inner, key=lambda span: span[1])
        target = start + size // 2
    for start, size in body.spans:
        if target < size:
            return start + target
        target -= size
    return None


@dataclass
class Response:
    status: int
    head: bytes
    body: bytes
    close: bool


def _read_response(reader: _Reader, method: str, limit: int) -> Response | None:
    """The next final response (interim 1xx skipped); None on EOF before any byte."""
    while True:
        raw = reader.read_head()
        if raw is None:
            return None
        head = _parse_head(raw)
        parts = head.first_line.split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _ProtocolError(f"bad status line: {head.first_line!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            continue
        break
    close = "close" in head.tokens("connection") or (
        parts[0] != "HTTP/1.1" and "keep-alive" not in head.tokens("connection")
    )
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        body = b""
    elif head.chunked:
        body = _read_chunked(reader, limit).raw
    elif head.content_length is not None:
        if head.content_length > limit:
            raise _ProtocolError("response body too large")
        body = reader.read_exact(head.content_length)
    else:
        body = reader.read_to_eof(limit)
        close = True
    return Response(status, raw, body, close)


def _error_answer(kind: str, request: _Request, request_id: str) -> bytes:
    status, reason, code, message = _ERROR_ANSWERS[kind]
    resource = escape(request.target.split("?", 1)[0])
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()
    body = b"" if request.method == "HEAD" else xml
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"x-amz-request-id: {request_id}\r\n"
        "Connection: close\r\n"
        "\r\n"
    ).encode()
    return head + body


_BAD_GATEWAY = (
    b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 23\r\n"
    b"Connection: close\r\n\r\nfaultproxy: no upstream"
)


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0, so the kernel sends RST instead of FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _close_gracefully(sock: socket.socket) -> None:
    """FIN, then briefly drain input so unread bytes do not turn the close into a RST."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _DRAIN_S
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(_RECV_BYTES):
                break
    sock.close()


class FaultProxy(Service):
    """A threaded fault-injecting proxy on a free 127.0.0.1 port; use as a context manager.

    ``host`` puts both the proxy and its upstream on another local address instead (the
    bridge of the test Flink cluster's hosts).
    """

    def __init__(
        self,
        upstream_port: int,
        rules: FaultRules | None = None,
        seed: int = 0,
        *,
        timeout: float = 30.0,
        max_connections: int = 64,
        max_body_bytes: int = 256 * 1024 * 1024,
        host: str = LOOPBACK,
    ) -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.timeout = timeout
        self.max_connections = max_connections
        self.max_body_bytes = max_body_bytes
        self.port = 0
        self._rules = rules or FaultRules()
        self.before_forward: Callable[[str, str], None] | None = None
        self.rewrite_response: Callable[[str, str, Response], Response] | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._faults_used = 0
        self._stats = dict.fromkeys(
            (
                "connections",
                "rejected_connections",
                "requests",
                "forwarded",
                "dropped",
                "upstream_errors",
            ),
            0,
        )
        self._stats.update(dict.fromkeys(FAULT_KINDS, 0))
        self._request_ids = itertools.count(1)
        self._stop = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def rules(self) -> FaultRules:
        return self._rules

    @rules.setter
    def rules(self, rules: FaultRules) -> None:
        """Swap the rules; the ``max_faults`` budget starts over."""
        with self._lock:
            self._rules = rules
            self._faults_used = 0

    @property
    def stats(self) -> dict[str, int]:
        """Counters: connections, rejected_connections, requests (seen), forwarded,
        dropped (by ``before_forward``), upstream_errors, and one per fault kind (faults
        actually injected)."""
        with self._lock:
            return dict(self._stats)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1

    # lifecycle

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(self.max_connections)
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._acceptor = threading.Thread(
            target=self._accept_loop, name=f"faultproxy-{self.port}-accept", daemon=True
        )
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._acceptor is not None:
            self._acceptor.join(_JOIN_S)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:  # wakes threads blocked in recv/send; they close their own
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + _JOIN_S
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [thread.name for thread in threads if thread.is_alive()]
        if alive:
            log.warning("faultproxy threads still alive after stop: %s", alive)

    def _accept_loop(self) -> None:
        assert self._listener is not None
        numbers = itertools.count(1)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.05)
                continue
            with self._lock:
                full = len(self._threads) >= self.max_connections
                self._stats["rejected_connections" if full else "connections"] += 1
                if not full:
                    self._sockets.add(client)
                    thread = threading.Thread(
                        target=self._serve,
                        args=(client,),
                        name=f"faultproxy-{self.port}-conn-{next(numbers)}",
                        daemon=True,
                    )
                    self._threads.add(thread)
            if full:
                _reset(client)
                continue
            thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
        if self._stop.is_set():  # opened after stop() woke everyone: wake it too
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)

    # faults

    def _choose_fault(self, request: _Request) -> str | None:
        rules = self._rules
        if rules.header and not request.head.values(rules.header.lower()):
            return None
        if rules.predicate is not None and not rules.predicate(request.method, request.target):
            return None
        with self._lock:
            if rules is not self._rules:  # swapped meanwhile: next request gets the new ones
                return None
            if rules.max_faults is not None and self._faults_used >= rules.max_faults:
                return None
            draw = self._rng.random()
            bound = 0.0
            for kind in FAULT_KINDS:
                p = getattr(rules, kind)
                bound += p
                if p > 0 and draw < bound:
                    self._faults_used += 1
                    return kind
        return None

    def _release_fault(self) -> None:
        with self._lock:
            self._faults_used = max(0, self._faults_used - 1)

    # one client connection

    def _serve(self, client: socket.socket) -> None:
        conn = _Connection(self, client)
        try:
            conn.run()
        except Exception:  # a test helper must not spew tracebacks from threads
            if not self._stop.is_set():
                log.debug("faultproxy connection failed", exc_info=True)
        finally:
            conn.close()
            with self._lock:
                self._threads.discard(threading.current_thread())


class _Connection:
    """One client connection and its (lazily opened) upstream connection."""

    def __init__(self, proxy: FaultProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.client.settimeout(proxy.timeout)
        self.reader = _Reader(client)
        self.upstream: socket.socket | None = None
        self.up_reader: _Reader | None = None
        self.client_closed = False

    def close(self) -> None:
        self._drop_upstream()
        if not self.client_closed:
            self.client.close()
            self.client_closed = True
        self.proxy._untrack(self.client)

    def _drop_upstream(self) -> None:
        if self.upstream is not None:
            self.upstream.close()
            self.proxy._untrack(self.upstream)
        self.upstream = self.up_reader = None

    def _finish(self, how: Callable[[socket.socket], None]) -> None:
        self.client_closed = True
        how(self.client)

    def run(self) -> None:
        proxy = self.proxy
        while not proxy._stop.is_set():
            try:
                raw = self.reader.read_head()
            except (OSError, _ProtocolError):
                return
            if raw is None:
                return
            try:
                request = _parse_request(raw)
            except _ProtocolError:
                return
            proxy._count("requests")
            if not self._handle(request, proxy._choose_fault(request)):
                return

    def _handle(self, request: _Request, fault: str | None) -> bool:
        """Serve one request; False when the client connection is finished."""
        proxy = self.proxy
        if fault in _ERROR_ANSWERS:
            if not request.expects_continue:
                _read_request_body(self.reader, request, proxy.max_body_bytes)
            request_id = f"FAULTPROXY{next(proxy._request_ids):08d}"
            proxy._count(fault)  # before the client can see it: stats never lag behind
            self.client.sendall(_error_answer(fault, request, request_id))
            log.debug("faultproxy: %s for %s %s", fault, request.method, request.target)
            self._finish(_close_gracefully)
            return False
        if request.expects_continue:
            self.client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        if fault == "reset_request":
            if request.has_body:
                length = request.head.content_length
                self.reader.read_some(max(1, length // 2) if length else _RECV_BYTES)
            proxy._count(fault)
            self._finish(_reset)
            return False
        body = _read_request_body(self.reader, request, proxy.max_body_bytes)
        data = body.raw
        if fault == "corrupt_request_body":
            offset = _corrupt_offset(request, body)
            if offset is None:
                proxy._release_fault()
                fault = None
            else:
                flipped = bytearray(data)
                flipped[offset] ^= 0x01
                data = bytes(flipped)
                proxy._count(fault)
        if proxy.before_forward is not None:
            try:
                proxy.before_forward(request.method, request.target)
            except Drop:
                if fault is not None:
                    proxy._release_fault()
                proxy._count("dropped")
                self._finish(_reset)
                return False
        response = self._exchange(request.head.raw + data, request.method)
        if response is None:
            proxy._count("upstream_errors")
            if fault is not None:
                proxy._release_fault()
            self.client.sendall(_BAD_GATEWAY)
            self._finish(_close_gracefully)
            return False
        proxy._count("forwarded")
        if response.close:
            self._drop_upstream()
        if fault == "stall":
            proxy._count(fault)
            if proxy._stop.wait(proxy.rules.stall_seconds):
                return False
        if proxy.rewrite_response is not None:
            response = proxy.rewrite_response(request.method, request.target, response)
        whole = response.head + response.body
        if fault == "reset_response":
            proxy._count(fault)
            self.client.sendall(whole[: len(whole) // 2])
            self._finish(_reset)
            return False
        if fault == "truncate_body":
            proxy._count(fault)
            if response.body:
                cut = response.head + response.body[: len(response.body) // 2]
            else:
                status_line = response.head[: response.head.index(b"\r\n")]
                cut = status_line[: len(status_line) // 2]
            self.client.sendall(cut)
            self._finish(_close_gracefully)
            return False
        self.client.sendall(whole)
        if response.close or request.wants_close:
            self._finish(_close_gracefully)
            return False
        return True

    def _connect(self) -> None:
        sock = socket.create_connection(
            (self.proxy.host, self.proxy.upstream_port), timeout=self.proxy.timeout
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proxy._track(sock)
        self.upstream = sock
        self.up_reader = _Reader(sock)

    def _upstream_is_stale(self) -> bool:
        assert self.upstream is not None
        readable, _, _ = select.select([self.upstream], [], [], 0)
        return bool(readable)  # EOF or unsolicited bytes: either way not reusable

    def _exchange(self, message: bytes, method: str) -> Response | None:
        """Send one request upstream and read its response; None if upstream failed."""
        for _attempt in range(2):
            reused = self.upstream is not None
            try:
                if reused and self._upstream_is_stale():
                    self._drop_upstream()
                    reused = False
                if self.upstream is None:
                    self._connect()
            except OSError:
                log.debug("faultproxy: cannot connect upstream", exc_info=True)
                return None
            assert self.upstream is not None and self.up_reader is not None
            try:
                self.upstream.sendall(message)
            except OSError:  # it may have answered early (and closed): try reading that
                log.debug("faultproxy: upstream send failed", exc_info=True)
            received = self.up_reader.received
            try:
                response = _read_response(self.up_reader, method, self.proxy.max_body_bytes)
            except (OSError, _ProtocolError):
                log.debug("faultproxy: upstream response failed", exc_info=True)
                response = None
            if response is None:
                # Not one byte came back from a kept-alive connection: the server closed it
                # just before this request, so retry once on a fresh one.
                retry = (
                    reused and self.up_reader.received == received and not self.proxy._stop.is_set()
                )
                self._drop_upstream()
                if retry:
                    continue
                return None
            return response
        return None
