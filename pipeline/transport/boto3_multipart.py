"""The multipart uploads of the boto3 transport, through s3transfer: it splits a large
body into parts sent in parallel, and aborts the upload when a part fails.

A conditional write (``PutRequest.precondition``) of a multipart upload goes with its
CompleteMultipartUpload: s3transfer takes no such argument (``ALLOWED_UPLOAD_ARGS`` of
0.19), so a hook of the client adds it to the completion.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import s3transfer.subscribers
from boto3.s3.transfer import TransferConfig
from s3transfer.manager import TransferManager

from pipeline.options import TransportOptions


class _Progress(s3transfer.subscribers.BaseSubscriber):  # type: ignore[misc]
    """Hands s3transfer's progress of an upload (bytes as its parts are sent, negative
    when a part is sent again) to the transport's ``on_progress``."""

    def __init__(self, on_progress: Callable[[int], None]) -> None:
        self._on_progress = on_progress

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._on_progress(bytes_transferred)


class MultipartUploads:
    """The multipart uploads in flight on one botocore ``client``, ``threads`` parts at
    a time."""

    def __init__(self, client: Any, options: TransportOptions, threads: int) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._in_flight: set[Any] = set()  # s3transfer futures
        # The conditions of the uploads in flight, by key, for their completion.
        self._conditions: dict[str, dict[str, str]] = {}
        client.meta.events.register(
            "before-parameter-build.s3.CompleteMultipartUpload", self._add_condition
        )
        self._transfers = TransferManager(
            client,
            TransferConfig(
                multipart_threshold=options.multipart_threshold,
                multipart_chunksize=options.multipart_chunksize,
                max_concurrency=threads,
            ),
        )

    def _add_condition(self, params: dict[str, Any], **_: Any) -> None:
        """Give a CompleteMultipartUpload the condition of its upload."""
        with self._lock:
            params.update(self._conditions.get(params["Key"], {}))

    def upload(
        self,
        body: Any,
        bucket: str,
        key: str,
        args: dict[str, Any],
        condition: dict[str, str],
        on_progress: Callable[[int], None] | None,
    ) -> str:
        """Store ``body`` (a file name or a readable file) under ``key``, once
        ``condition`` holds; its ETag. ``on_progress`` gets the bytes as the parts go."""
        subscribers = [] if on_progress is None else [_Progress(on_progress)]
        transfer = self._transfers.upload(
            body, bucket, key, extra_args=args, subscribers=subscribers
        )
        with self._lock:
            self._in_flight.add(transfer)
            self._conditions[key] = condition
        try:
            transfer.result()
        finally:
            with self._lock:
                self._in_flight.discard(transfer)
                self._conditions.pop(key, None)
        # s3transfer does not hand back the ETag that completed the upload.
        stored = self._client.head_object(Bucket=bucket, Key=key)
        return str(stored["ETag"]).strip('"')

    def cancel_all(self) -> None:
        # Each transfer is cancelled by its future: s3transfer 0.19's shutdown(cancel=True)
        # hands its message on as the exception type and fails.
        with self._lock:
            transfers = list(self._in_flight)
        for transfer in transfers:
            transfer.cancel()

    def shutdown(self) -> None:
        self._transfers.shutdown()
