"""The boto3 transport (--transport boto3): plain botocore requests from a thread pool.

Slower than awscrt (Python does the HTTP work, under the GIL) but it speaks exactly what
boto3 speaks, for servers that awscrt's S3 client does not get along with. Large files go
through s3transfer's multipart upload (``boto3_multipart``).

A conditional write (``PutRequest.precondition``) goes with PutObject, CopyObject, and
for a multipart upload with CompleteMultipartUpload.

With ``--bwlimit`` every body is read through a ``ThrottledReader`` of the run's cap:
botocore reads a single PUT's body to hash it and then sends it (the cap is paid on the
first pass only), and s3transfer reads a multipart upload's parts one after another into
memory (at most ``max_in_memory_upload_chunks`` parts per worker) and sends them.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import botocore.exceptions
import s3transfer.exceptions

from pipeline.options import TargetOptions, TransportOptions
from pipeline.records import Precondition, RemoteObject
from pipeline.s3uri import S3Uri
from pipeline.transport.bandwidth import run_cap, throttled_body
from pipeline.transport.base import (
    HeadOutcome,
    ListOutcome,
    PutOutcome,
    PutRequest,
    Transport,
    object_details,
)
from pipeline.transport.boto import s3_error
from pipeline.transport.boto3_args import condition_args, extra_args
from pipeline.transport.boto3_multipart import MultipartUploads
from pipeline.transport.botocore_client import make_client
from pipeline.transport.errors import ErrorKind

_MAX_THREADS = 64


def _error(operation: str, e: Exception) -> tuple[str, ErrorKind]:
    """The message and kind of a failed request (a local file that cannot be read: LOCAL)."""
    if isinstance(e, OSError) and not isinstance(e, botocore.exceptions.BotoCoreError):
        return f"{operation} failed: {type(e).__name__}: {e}", ErrorKind.LOCAL
    error = s3_error(e, f"{operation} failed")
    return str(error), error.kind


class Boto3Transport(Transport):
    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target, options)
        threads = min(options.concurrency, _MAX_THREADS)
        self._bucket = target.bucket
        self._client = make_client(
            target,
            retries=options.retries,
            retry_mode=options.retry_mode,
            connect_timeout=options.timeout,
            read_timeout=options.timeout,
            pool_connections=threads,
        )
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="s3pp-boto3")
        self._cap = run_cap(options.run_key, options.bwlimit)  # None: no --bwlimit
        self._cancelled = threading.Event()
        self._multipart = MultipartUploads(self._client, options, threads)

    def head(self, key: str, on_done: Callable[[HeadOutcome], None], details: bool = False) -> None:
        def run() -> None:
            mode = {"ChecksumMode": "ENABLED"} if details else {}
            try:
                answer = self._client.head_object(Bucket=self._bucket, Key=key, **mode)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                text, kind = _error("HEAD", e)
                found_none = kind is ErrorKind.NOT_FOUND
                on_done(
                    HeadOutcome(remote=None) if found_none else HeadOutcome(error=text, kind=kind)
                )
                return
            etag, modified = answer["ETag"].strip('"'), answer.get("LastModified")
            mtime = modified.timestamp() if modified is not None else 0.0
            remote = RemoteObject(key, answer["ContentLength"], etag, mtime)
            headers = answer["ResponseMetadata"].get("HTTPHeaders", {})
            found = object_details(headers) if details else None
            on_done(HeadOutcome(remote=remote, details=found))

        self._pool.submit(run)

    def list_directory(
        self,
        prefix: str,
        on_done: Callable[[ListOutcome], None],
        start_after: str = "",
        until: str = "",
    ) -> None:
        def run() -> None:
            objects = {}
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self._bucket,
                Prefix=prefix,
                Delimiter="/",
                **({"StartAfter": start_after} if start_after else {}),
            )
            try:
                for page in pages:
                    contents = page.get("Contents", [])
                    for obj in contents:
                        etag = obj["ETag"].strip('"')
                        mtime = obj["LastModified"].timestamp()
                        objects[obj["Key"]] = RemoteObject(obj["Key"], obj["Size"], etag, mtime)
                    if until and contents and contents[-1]["Key"] >= until:
                        break
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                text, kind = _error("LIST", e)
                on_done(ListOutcome(objects={}, error=text, kind=kind))
                return
            on_done(ListOutcome(objects=objects))

        self._pool.submit(run)

    def put(
        self,
        request: PutRequest,
        on_done: Callable[[PutOutcome], None],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        args = extra_args(request, request.headers)

        def run() -> None:
            if self._cancelled.is_set():
                on_done(PutOutcome(error="PUT cancelled", kind=ErrorKind.CANCELLED))
                return
            try:
                with self._body(request, on_progress) as body:
                    etag = self._send(request, body, args, on_progress)
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError,
                    OSError) as e:  # fmt: skip
                if self._cancelled.is_set():  # a throttled read stopped by cancel_all
                    on_done(PutOutcome(error="PUT cancelled", kind=ErrorKind.CANCELLED))
                    return
                text, kind = _error("PUT", e)
                on_done(PutOutcome(error=text, kind=kind))
                return
            except (s3transfer.exceptions.CancelledError, concurrent.futures.CancelledError):
                on_done(PutOutcome(error="PUT cancelled", kind=ErrorKind.CANCELLED))
                return
            on_done(PutOutcome(etag=etag))

        self._pool.submit(run)

    @contextlib.contextmanager
    def _body(
        self, request: PutRequest, on_progress: Callable[[int], None] | None
    ) -> Iterator[Any]:
        """What botocore or s3transfer reads the body from: with a cap, a throttled file
        (reporting progress as it is paid); else the bytes, or the file (by name for
        s3transfer, which opens each part itself)."""
        if self._cap is not None:
            with throttled_body(
                request.path, request.data, self._cap, self._cancelled, on_progress
            ) as body:
                yield body
        elif request.data is not None:
            multipart = request.size > self.options.multipart_threshold
            yield io.BytesIO(request.data) if multipart else request.data
        elif request.size > self.options.multipart_threshold:
            yield request.path
        else:
            assert request.path is not None
            with open(request.path, "rb") as f:
                yield f

    def _send(
        self,
        request: PutRequest,
        body: Any,
        args: dict[str, Any],
        on_progress: Callable[[int], None] | None,
    ) -> str:
        """Store ``body`` under the request's key; its ETag. s3transfer reports the
        progress of a multipart upload as its parts go (a throttled body reports its own)."""
        bucket, condition = self._bucket, condition_args(request.precondition)
        if request.size <= self.options.multipart_threshold:
            answer = self._client.put_object(
                Bucket=bucket, Key=request.key, Body=body, **args, **condition
            )
            return str(answer["ETag"]).strip('"')
        progress = on_progress if self._cap is None else None
        return self._multipart.upload(body, bucket, request.key, args, condition, progress)

    def copy(
        self,
        source: S3Uri,
        key: str,
        on_done: Callable[[PutOutcome], None],
        tagging: str = "",
        precondition: Precondition | None = None,
    ) -> None:
        source_bucket, source_key = source
        args = {"TaggingDirective": "REPLACE", "Tagging": tagging} if tagging else {}
        args.update(condition_args(precondition))

        def run() -> None:
            try:
                answer = self._client.copy_object(
                    Bucket=self._bucket,
                    Key=key,
                    CopySource={"Bucket": source_bucket, "Key": source_key},
                    **args,
                )
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
                text, kind = _error("COPY", e)
                on_done(PutOutcome(error=text, kind=kind))
                return
            on_done(PutOutcome(etag=answer["CopyObjectResult"]["ETag"].strip('"')))

        self._pool.submit(run)

    def cancel_expired(self) -> None:
        """Nothing to do: botocore's connect and read timeouts bound each request."""

    def cancel_all(self) -> None:
        self._cancelled.set()
        self._multipart.cancel_all()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._multipart.shutdown()
