"""The native data plane: awscrt's S3 client keeps hundreds of requests in flight outside
Python, streams files from disk and splits large ones into parallel multipart parts.

With ``--bwlimit`` a body is not read by awscrt from its file (``send_filepath``) but
through a ``ThrottledReader`` (``body_stream``): awscrt reads it on its body-streaming
thread, a part (or a whole small body) at a time into its buffers, and each read waits
for the run's cap. That thread also prepares the other requests and hands their
answers over, which then wait up to one such read (part size / RATE): so the time the
cap holds it back does not count against any request's deadline, and on Ctrl-C those
answers are let in before the requests still in flight are cancelled.
"""

from __future__ import annotations

import io
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Callable

from awscrt.http import HttpHeaders, HttpRequest
from awscrt.s3 import (
    S3ChecksumAlgorithm,
    S3ChecksumConfig,
    S3ChecksumLocation,
    S3RequestType,
)

from pipeline.options import TargetOptions, TransportOptions
from pipeline.records import Precondition, RemoteObject
from pipeline.s3uri import S3Uri
from pipeline.transport.bandwidth import ThrottledReader, run_cap, throttled_body
from pipeline.transport.base import (
    HeadOutcome,
    ListOutcome,
    PutOutcome,
    PutRequest,
    Transport,
    object_details,
)
from pipeline.transport.control import Control
from pipeline.transport.crt_answer import Answer, copy_result_etag
from pipeline.transport.crt_client import make_crt_client
from pipeline.transport.crt_control import CrtControl
from pipeline.transport.crt_requests import CrtRequests
from pipeline.transport.errors import ErrorKind
from pipeline.transport.listing import http_time, parse_list_page


class CrtTransport(Transport):
    """A Transport on awscrt.s3.S3Client; one per worker (create it in DoFn.setup)."""

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target, options)
        self._endpoint = target.endpoint
        self._bucket = target.bucket
        self._host = target.endpoint.authority(target.bucket)
        self._cap = run_cap(options.run_key, options.bwlimit)  # None: no --bwlimit
        self._stopping = threading.Event()  # set by cancel_all: throttled reads stop
        self._requests = CrtRequests(make_crt_client(target, options), options.timeout, self._cap)

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

    def cancel_expired(self) -> None:
        self._requests.cancel_expired()

    def head(self, key: str, on_head: Callable[[HeadOutcome], None], details: bool = False) -> None:
        def finished(answer: Answer) -> None:
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

        self._requests.send(
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
            self._requests.send(
                finished,
                type=S3RequestType.DEFAULT,
                operation_name="ListObjectsV2",
                request=HttpRequest("GET", path, HttpHeaders([("Host", self._host)])),
            )

        def finished(answer: Answer) -> None:
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

        def finished(answer: Answer) -> None:
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
        self._requests.send(
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
        def finished(answer: Answer) -> None:
            # CopyObject may answer 200 and still fail: the error is then in the body.
            code = answer.s3_error()[0]
            if answer.error is None and not code:
                on_copy(PutOutcome(etag=copy_result_etag(bytes(answer.body))))
            else:
                error = f"COPY failed: {answer.error_text()}"
                on_copy(PutOutcome(error=error, kind=answer.kind()))

        headers = [("x-amz-copy-source", urllib.parse.quote(f"/{source.path}", safe="/~"))]
        if tagging:
            headers += [("x-amz-tagging-directive", "REPLACE"), ("x-amz-tagging", tagging)]
        if precondition is not None:
            headers.append(precondition.header())
        self._requests.send(
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
        self._requests.cancel_all()

    def close(self) -> None:
        self._requests.close()
