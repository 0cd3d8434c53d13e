"""The native data plane: awscrt's S3 client keeps hundreds of requests in flight outside
Python, streams files from disk and splits large ones into parallel multipart parts.

With ``--bwlimit`` a body is not read by awscrt from its file (``send_filepath``) but
through a ``ThrottledReader`` (``body_stream``): awscrt reads it on its body-streaming
thread, a part (or a whole small body) at a time into its buffers, and each read waits
for the worker's cap. That thread also prepares the other requests and hands their
answers over, which then wait up to one such read (part size / RATE): so the time the
cap holds it back does not count against any request's deadline, and on Ctrl-C those
answers are let in before the requests still in flight are cancelled.
"""

from __future__ import annotations

import dataclasses
import io
import os
import queue
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from awscrt.auth import AwsCredentials, AwsCredentialsProvider
from awscrt.http import HttpHeaders, HttpRequest
from awscrt.io import (
    ClientBootstrap,
    ClientTlsContext,
    DefaultHostResolver,
    EventLoopGroup,
    TlsContextOptions,
)
from awscrt.s3 import (
    S3ChecksumAlgorithm,
    S3ChecksumConfig,
    S3ChecksumLocation,
    S3Client,
    S3RequestTlsMode,
    S3RequestType,
    S3RetryConfig,
    S3RetryMode,
)

from pipeline.credentials import botocore_credentials
from pipeline.options import RetryMode, TargetOptions, TransportOptions
from pipeline.records import Precondition, RemoteObject
from pipeline.s3uri import S3Uri
from pipeline.transport.bandwidth import ThrottledReader, throttled_body, worker_cap
from pipeline.transport.base import (
    HeadOutcome,
    ListOutcome,
    PutOutcome,
    PutRequest,
    Transport,
    object_details,
)
from pipeline.transport.boto import BotocoreControl
from pipeline.transport.control import PREFLIGHT_TIMEOUT_S, Control, S3Error, no_answer
from pipeline.transport.errors import ErrorKind, classify
from pipeline.transport.listing import http_time, parse_list_page
from pipeline.transport.tls_probe import certificate_problem

_THROUGHPUT_TARGET_GBPS = 10.0
_RETRY_TOKENS = 1_000_000  # awscrt's retry token bucket: deep, see _retry_config
_SLOWEST_BYTES_PER_S = 256 * 1024  # a body gets --timeout plus this long per byte
# What awscrt may buffer for multipart parts (the least it accepts); small PUTs are
# bounded by the upload DoFn's in-flight byte budget instead.
MEMORY_LIMIT = 256 * 1024 * 1024
_PREFLIGHT_SLACK_S = 1.0  # the bucket check waits for a cancelled request this long
_POLL_S = 0.25


def _s3_error_code(body: bytes | None) -> tuple[str, str]:
    """(Code, Message) of an S3 error response body; ('', '') when it is no error."""
    if not body:
        return "", ""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "", ""
    if root.tag.rsplit("}", 1)[-1] != "Error":
        return "", ""
    return root.findtext("Code") or "", root.findtext("Message") or ""


@dataclass
class _Answer:
    """What came back for one request: status, headers, body, and awscrt's error."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    error: str | None = None  # awscrt's error name and message, or None on success
    error_name: str = ""  # awscrt's error name, e.g. AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE
    error_body: bytes | None = None
    timed_out: bool = False
    cancelled: bool = False  # cancelled by cancel_all

    def s3_error(self) -> tuple[str, str]:
        """(Code, Message) of the S3 error in the answer, if any."""
        return _s3_error_code(self.error_body if self.error is not None else bytes(self.body))

    def kind(self) -> ErrorKind:
        if self.cancelled:
            return ErrorKind.CANCELLED
        if self.timed_out:
            return ErrorKind.TIMED_OUT
        if not self.status and self.error_name.startswith("AWS_IO_TLS"):
            return ErrorKind.TLS
        region = self.headers.get("x-amz-bucket-region", "")
        return classify(self.status, self.s3_error()[0], region)

    def error_text(self) -> str:
        """'HTTP 403 AccessDenied: Access Denied', or awscrt's error when S3 said nothing."""
        code, message = self.s3_error()
        if self.status:
            detail = ": ".join(part for part in (code, message) if part) or self.error or ""
            return f"HTTP {self.status} {detail}".strip()
        return self.error or f"{code}: {message}"


def _retry_config(config: TransportOptions) -> S3RetryConfig:
    if config.retries == 0:  # awscrt reads max_retries=0 as "its default of 5"
        return S3RetryConfig(retry_mode=S3RetryMode.NONE)
    return S3RetryConfig(
        max_retries=config.retries,
        # A deep token bucket: a burst of faults must not leave later requests without
        # their retries; --retries bounds the work per request.
        initial_bucket_capacity=_RETRY_TOKENS,
        retry_mode=S3RetryMode.ADAPTIVE
        if config.retry_mode is RetryMode.ADAPTIVE
        else S3RetryMode.STANDARD,
    )


def _event_loop_threads() -> int:
    """Half the cores for awscrt's I/O threads: Python (and often the server) need the rest.

    Measured on 2 cores with SeaweedFS: one event-loop thread spent ~25% less CPU than
    two for 10,000 small PUTs, at the same wall time.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def _copy_result_etag(body: bytes) -> str:
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return ""
    for child in root:
        if child.tag.rsplit("}", 1)[-1] == "ETag":
            return (child.text or "").strip('"')
    return ""


def _crt_error_text(error: BaseException) -> str:
    name = getattr(error, "name", type(error).__name__)
    message = getattr(error, "message", str(error))
    return f"{name}: {message}"


class CrtTransport(Transport):
    """A Transport on awscrt.s3.S3Client; one per worker (create it in DoFn.setup)."""

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target, options)
        self._endpoint = target.endpoint
        credentials = botocore_credentials(target.profile)

        def load() -> AwsCredentials:
            frozen = credentials.get_frozen_credentials()
            return AwsCredentials(frozen.access_key, frozen.secret_key, frozen.token)

        tls_options = None
        if target.endpoint.secure:
            context_options = TlsContextOptions()
            if target.ca_bundle:
                context_options.override_default_trust_store_from_path(None, target.ca_bundle)
            tls_options = ClientTlsContext(context_options).new_connection_options()
        event_loops = EventLoopGroup(_event_loop_threads())
        bootstrap = ClientBootstrap(event_loops, DefaultHostResolver(event_loops))
        self._client = S3Client(
            bootstrap=bootstrap,
            region=target.endpoint.region,
            tls_mode=(
                S3RequestTlsMode.ENABLED if target.endpoint.secure else S3RequestTlsMode.DISABLED
            ),
            credential_provider=AwsCredentialsProvider.new_delegate(load),
            tls_connection_options=tls_options,
            part_size=options.multipart_chunksize,
            multipart_upload_threshold=options.multipart_threshold,
            throughput_target_gbps=_THROUGHPUT_TARGET_GBPS,
            max_active_connections_override=options.concurrency,
            memory_limit=MEMORY_LIMIT,
            retry_config=_retry_config(options),
        )
        self._bucket = target.bucket
        self._host = target.endpoint.authority(target.bucket)
        self._cap = worker_cap(options.bwlimit)  # None: no --bwlimit
        self._stopping = threading.Event()  # set by cancel_all: throttled reads stop
        self._lock = threading.Lock()
        # Keeps each S3Request alive until it is done, with its deadline less the time the
        # cap had held bodies back when it started (see _held_back).
        self._live: dict[int, tuple[Any, float]] = {}
        self._done_early: set[int] = set()
        self._expired: set[int] = set()  # cancelled by cancel_expired, not yet done

    def _request(
        self,
        method: str,
        key: str,
        headers: list[tuple[str, str]],
        body: io.BufferedIOBase | None = None,
    ) -> HttpRequest:
        path = self._endpoint.path(self._bucket, key)
        return HttpRequest(
            method, path, HttpHeaders([("Host", self._host), *headers]), body_stream=body
        )

    def _send(self, finished: Callable[[_Answer], None], size: int = 0, **request: Any) -> None:
        """make_request; ``finished`` gets the whole answer, once, on a CRT thread.

        The request is kept alive until it is done; one refused at once also finishes. One
        still running past its deadline (``--timeout`` plus time for ``size`` bytes at
        ``_SLOWEST_BYTES_PER_S``, pushed back by the time ``--bwlimit`` held bodies back
        meanwhile) is cancelled by ``cancel_expired`` and reported as timed out, which the
        upload retries.
        """
        answer = _Answer()
        token = id(answer)
        deadline = time.monotonic() + self.options.timeout + size / _SLOWEST_BYTES_PER_S
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
            answer.error = None if error is None else _crt_error_text(error)
            answer.error_name = getattr(error, "name", "") if error is not None else ""
            # Cancelled by cancel_all (Ctrl-C); one cancelled for its deadline is retried.
            canceled = getattr(error, "name", "") == "AWS_ERROR_S3_CANCELED"
            answer.cancelled = canceled and not timed_out
            if timed_out and error is not None:
                answer.error = f"timed out after {self.options.timeout:g} s ({answer.error})"
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
        """Seconds so far that the bandwidth cap held this worker's bodies back."""
        return 0.0 if self._cap is None else self._cap.held_back()

    def cancel_expired(self) -> None:
        now = time.monotonic() - self._held_back()
        with self._lock:
            late = [
                (t, r) for t, (r, d) in self._live.items() if d < now and t not in self._expired
            ]
            self._expired.update(t for t, _ in late)
        for _, request in late:
            request.cancel()

    def head(self, key: str, on_head: Callable[[HeadOutcome], None], details: bool = False) -> None:
        def finished(answer: _Answer) -> None:
            if answer.error is None:
                size = int(answer.headers.get("content-length", "0"))
                etag = answer.headers.get("etag", "").strip('"')
                mtime = http_time(answer.headers.get("last-modified", ""))
                remote = RemoteObject(key, size, etag, mtime)
                found = object_details(answer.headers) if details else None
                on_head(HeadOutcome(remote=remote, details=found))
            elif answer.status == 404:
                on_head(HeadOutcome(remote=None))
            else:
                on_head(
                    HeadOutcome(error=f"HEAD failed: {answer.error_text()}", kind=answer.kind())
                )

        self._send(
            finished,
            type=S3RequestType.DEFAULT,
            operation_name="HeadObject",
            request=self._request("HEAD", key, [("x-amz-checksum-mode", "ENABLED")] * details),
        )

    def list_directory(
        self,
        prefix: str,
        on_list: Callable[[ListOutcome], None],
        start_after: str = "",
        until: str = "",
    ) -> None:
        objects: dict[str, RemoteObject] = {}

        def fetch(token: str | None) -> None:
            query = {"list-type": "2", "delimiter": "/", "encoding-type": "url", "prefix": prefix}
            if token:
                query["continuation-token"] = token
            elif start_after:
                query["start-after"] = start_after
            path = self._endpoint.bucket_path(self._bucket, query)
            self._send(
                finished,
                type=S3RequestType.DEFAULT,
                operation_name="ListObjectsV2",
                request=HttpRequest("GET", path, HttpHeaders([("Host", self._host)])),
            )

        def finished(answer: _Answer) -> None:
            if answer.error is not None:
                error = f"LIST failed: {answer.error_text()}"
                on_list(ListOutcome(objects={}, error=error, kind=answer.kind()))
                return
            try:
                page = parse_list_page(bytes(answer.body))
            except (ET.ParseError, ValueError) as e:
                on_list(ListOutcome(objects={}, error=f"LIST failed: {e}", kind=ErrorKind.SERVER))
                return
            objects.update((obj.key, obj) for obj in page.objects)
            reached = until and page.objects and page.objects[-1].key >= until
            if page.next_token and not reached:
                fetch(page.next_token)
            else:
                on_list(ListOutcome(objects=objects))

        fetch(None)

    def head_bucket(self, on_head: Callable[[_Answer], None]) -> None:
        """HEAD the transport's bucket; ``on_head`` gets the whole answer."""
        path = f"/{self._bucket}" if self._endpoint.path_style else "/"
        self._send(
            on_head,
            type=S3RequestType.DEFAULT,
            operation_name="HeadBucket",
            request=HttpRequest("HEAD", path, HttpHeaders([("Host", self._host)])),
        )

    def put(
        self,
        request: PutRequest,
        on_put: Callable[[PutOutcome], None],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        body: io.BufferedIOBase | None = None if request.data is None else io.BytesIO(request.data)
        if self._cap is not None:
            try:  # a body ended early fails: awscrt checks it against Content-Length
                body = throttled_body(
                    request.path, request.data, self._cap, self._stopping, on_progress, True
                )
            except OSError as e:
                on_put(PutOutcome(error=f"PUT failed: {e.strerror}", kind=ErrorKind.LOCAL))
                return

        def finished(answer: _Answer) -> None:
            if isinstance(body, ThrottledReader):
                body.close()  # awscrt has read what it needs
                # A body cut short by cancel_all fails its request: that is a cancel too.
                answer.cancelled = answer.cancelled or (answer.error is not None and body.stopped)
            if answer.error is None:
                on_put(PutOutcome(etag=answer.headers.get("etag", "").strip('"')))
            else:
                error = f"PUT failed: {answer.error_text()}"
                on_put(PutOutcome(error=error, kind=answer.kind()))

        headers = [
            ("Content-Length", str(request.size)),
            ("Content-Type", request.content_type),
        ]
        if request.content_encoding:
            headers.append(("Content-Encoding", request.content_encoding))
        headers.extend(request.headers)
        if request.tagging:  # awscrt passes it on to CreateMultipartUpload too
            headers.append(("x-amz-tagging", request.tagging))
        if request.precondition is not None:
            # awscrt sends If-None-Match of a multipart upload with CompleteMultipartUpload
            # alone, and If-Match with each of its requests (the last: the completion).
            headers.append(request.precondition.header())
        self._send(
            finished,
            size=request.size,
            type=S3RequestType.PUT_OBJECT,
            request=self._request("PUT", request.key, headers, body),
            # The file straight from disk, unless the cap reads it (body_stream).
            send_filepath=None if self._cap is not None else request.path,
            checksum_config=S3ChecksumConfig(
                algorithm=S3ChecksumAlgorithm.CRC32, location=S3ChecksumLocation.HEADER
            ),
            # Under a cap the body reports its bytes as they pass it: awscrt's own
            # progress then comes only when the whole body has been read, as its reads
            # wait for the cap on the thread that would deliver that progress.
            **({"on_progress": on_progress} if on_progress and self._cap is None else {}),
        )

    def copy(
        self,
        source: S3Uri,
        key: str,
        on_copy: Callable[[PutOutcome], None],
        tagging: str = "",
        precondition: Precondition | None = None,
    ) -> None:
        def finished(answer: _Answer) -> None:
            # CopyObject may answer 200 and still fail: the error is then in the body.
            code = answer.s3_error()[0]
            if answer.error is None and not code:
                on_copy(PutOutcome(etag=_copy_result_etag(bytes(answer.body))))
            else:
                error = f"COPY failed: {answer.error_text()}"
                on_copy(PutOutcome(error=error, kind=answer.kind()))

        headers = [("x-amz-copy-source", urllib.parse.quote(f"/{source.path}", safe="/~"))]
        if tagging:
            headers += [("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", tagging)]
        if precondition is not None:
            headers.append(precondition.header())
        self._send(
            finished,
            type=S3RequestType.DEFAULT,
            operation_name="CopyObject",
            request=self._request("PUT", key, headers),
        )

    @classmethod
    def open_control(cls, target: TargetOptions, options: TransportOptions) -> Control:
        return CrtControl(target, options)

    def cancel_all(self) -> None:
        first = not self._stopping.is_set()
        self._stopping.set()  # throttled bodies end at once, which fails their requests
        if first and self._cap is not None:
            # Called again while requests remain: first let awscrt deliver the answers that
            # its reading thread held back, so an object already stored is not reported as
            # cancelled.
            return
        with self._lock:
            live = [request for request, _ in self._live.values()]
        for request in live:
            request.cancel()

    def close(self) -> None:
        with self._lock:
            self._live.clear()
        self._client = None  # type: ignore[assignment]


class CrtControl(BotocoreControl):
    """botocore's control plane, but the bucket check (the one request every run makes
    before its first upload) goes through awscrt: it spares loading botocore's S3 model
    (about 60 ms of every run)."""

    _PREFLIGHT_RETRIES = 2

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target)
        retries = min(options.retries, self._PREFLIGHT_RETRIES)
        self._options = dataclasses.replace(
            options, retries=retries, concurrency=4, timeout=PREFLIGHT_TIMEOUT_S
        )

    def check_bucket(self, bucket: str) -> None:
        target = dataclasses.replace(self._target, bucket=bucket)
        transport = CrtTransport(target, self._options)
        answers: queue.SimpleQueue[_Answer] = queue.SimpleQueue()
        try:
            transport.head_bucket(answers.put)
            deadline = time.monotonic() + self._options.timeout + _PREFLIGHT_SLACK_S
            while True:
                try:
                    answer = answers.get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    transport.cancel_expired()
                    if time.monotonic() > deadline:
                        raise self._silent(target) from None
        finally:
            transport.close()
        if answer.error is None:
            return
        if answer.timed_out:
            raise self._silent(target)
        region = answer.headers.get("x-amz-bucket-region", "")
        raise S3Error(answer.kind(), f"HEAD bucket {bucket}: {answer.error_text()}", region)

    @staticmethod
    def _silent(target: TargetOptions) -> S3Error:
        """The error of a bucket check that heard no answer in time: an untrusted
        certificate (which awscrt would report only later), else no answer."""
        endpoint, bucket = target.endpoint, target.bucket
        if endpoint.secure:
            host = endpoint.authority(bucket).removesuffix(f":{endpoint.port}")
            problem = certificate_problem(host, endpoint.port or 443, target.ca_bundle)
            if problem:
                return S3Error(ErrorKind.TLS, f"HEAD bucket {bucket}: {problem}")
        return no_answer(bucket)
