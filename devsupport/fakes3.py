"""An in-memory S3 behind the Transport interface, for tests without a server.

Pass ``FakeTransport`` as ``TransportOptions.factory``: every request of the run, the
data plane (HEAD, LIST, PUT, COPY) and the control plane (bucket checks, listings,
report files, multipart uploads) goes to the one ``SERVER`` of this process. It
answers asynchronously, like a real transport, after ``SERVER.delay_s``, and records
what it was asked and how many requests were in flight at once. Faults are queued per
request: ``SERVER.fail("put", "some/key", ErrorKind.DAMAGED)``. A PUT or COPY with a
precondition is refused (PRECONDITION) when the key does not hold what it expects, as S3
answers 412; ``SERVER.conditions_not_implemented`` makes it refuse every conditional
write as not implemented instead, as a server without conditional writes answers 501.

For the in-process runner only (the server lives in this process's memory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from pipeline.body import Body, file_etag
from pipeline.naming import rewritten
from pipeline.options import TargetOptions, TransportOptions
from pipeline.records import Precondition, RemoteObject
from pipeline.s3uri import S3Uri
from pipeline.transport.base import (
    HeadOutcome,
    ListOutcome,
    PutOutcome,
    PutRequest,
    Transport,
    object_details,
)
from pipeline.transport.control import Control, ObjectInfo, OpenUpload, S3Error
from pipeline.transport.errors import ErrorKind


@dataclass
class FakeObject:
    data: bytes
    etag: str
    mtime: float
    content_type: str = ""
    content_encoding: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    tagging: str = ""  # the x-amz-tagging header it was stored with
    # What a HEAD with checksum mode adds: x-amz-checksum-*, x-amz-server-side-encryption
    stored_headers: tuple[tuple[str, str], ...] = ()


@dataclass
class FakeServer:
    buckets: dict[str, dict[str, FakeObject]] = field(default_factory=dict)
    uploads: dict[str, list[OpenUpload]] = field(default_factory=lambda: defaultdict(list))
    requests: list[tuple[str, str]] = field(default_factory=list)  # (operation, key or uri)
    delay_s: float = 0.0  # how long each data-plane request takes
    page_keys: int = 1000  # keys in one page of a listing (ListObjectsV2's max-keys)
    keys_listed: int = 0  # keys returned by all the listings' pages
    on_put: Callable[[PutRequest], None] | None = None  # called as a PUT is received
    on_copy: Callable[[str], None] | None = None  # called with its key as a COPY is received
    conditions_not_implemented: bool = False  # answer 501 to conditional writes
    # Store, read and delete a key with '\\' or '//' under another (as SeaweedFS does);
    # listings show the stored keys.
    rewrite_keys: bool = False
    in_flight: int = 0
    max_in_flight: int = 0
    _faults: dict[tuple[str, str], list[ErrorKind]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self.buckets.clear()
            self.uploads.clear()
            self.requests.clear()
            self._faults.clear()
            self.delay_s = 0.0
            self.page_keys = 1000
            self.keys_listed = 0
            self.on_put = self.on_copy = None
            self.rewrite_keys = False
            self.conditions_not_implemented = False
            self.in_flight = self.max_in_flight = 0

    def create_bucket(self, name: str) -> dict[str, FakeObject]:
        return self.buckets.setdefault(name, {})

    def put_object(self, bucket: str, key: str, data: bytes, mtime: float | None = None) -> None:
        """Store ``data`` at ``key`` as a single-part PUT would (its MD5 as the ETag), last
        modified at ``mtime`` (default: now): a test sets an object's LastModified so."""
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        stored = FakeObject(data, etag, time.time() if mtime is None else mtime)
        with self._lock:
            self.create_bucket(bucket)[key] = stored

    def fail(self, operation: str, key: str, *kinds: ErrorKind) -> None:
        """The next requests of ``operation`` on ``key`` fail with ``kinds``, in order."""
        with self._lock:
            self._faults.setdefault((operation, key), []).extend(kinds)

    def count(self, operation: str) -> int:
        with self._lock:
            return sum(1 for op, _ in self.requests if op == operation)

    def request(self, operation: str, key: str) -> ErrorKind | None:
        """Record a request; the fault queued for it, if any."""
        with self._lock:
            self.requests.append((operation, key))
            faults = self._faults.get((operation, key))
            return faults.pop(0) if faults else None

    def listed(self, keys: int) -> None:
        with self._lock:
            self.keys_listed += keys

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def stored_key(self, key: str) -> str:
        """The key an object sent (or asked for) as ``key`` is stored under."""
        return rewritten(key) if self.rewrite_keys else key

    def refusal(
        self, operation: str, bucket: str, key: str, precondition: Precondition | None
    ) -> PutOutcome | None:
        """The failed outcome of a write to ``key`` that ``precondition`` stops, if any."""
        if precondition is None:
            return None
        if self.conditions_not_implemented:
            error = f"{operation} failed: HTTP 501 NotImplemented: {_NOT_IMPLEMENTED}"
            return PutOutcome(error=error, kind=ErrorKind.NOT_IMPLEMENTED)
        stored = self.buckets.get(bucket, {}).get(key)
        if (None if stored is None else stored.etag) != (precondition.etag or None):
            error = f"{operation} failed: HTTP 412 PreconditionFailed: {_PRECONDITION_FAILED}"
            return PutOutcome(error=error, kind=ErrorKind.PRECONDITION)
        return None

    def bucket(self, name: str) -> dict[str, FakeObject]:
        try:
            return self.buckets[name]
        except KeyError:
            raise S3Error(ErrorKind.NOT_FOUND, f"no bucket {name}") from None


SERVER = FakeServer()
_NOT_IMPLEMENTED = "A header you provided implies functionality that is not implemented"
_PRECONDITION_FAILED = "At least one of the pre-conditions you specified did not hold"


def object_etag(data: bytes, options: TransportOptions) -> str:
    """The ETag the fake gives ``data``: MD5, or multipart MD5 as the tool sends it."""
    if len(data) <= options.multipart_threshold:
        return hashlib.md5(data, usedforsecurity=False).hexdigest()
    body = Body(size=len(data), data=data)
    return file_etag(body, options.multipart_threshold, options.multipart_chunksize)


class FakeTransport(Transport):
    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        super().__init__(target, options)
        self._cancelled = threading.Event()

    @classmethod
    def open_control(cls, target: TargetOptions, options: TransportOptions) -> Control:
        return FakeControl(options)

    def _later(self, answer: Callable[[], None]) -> None:
        """Run ``answer`` on another thread after the server's delay, as one request."""
        SERVER.started()

        def run() -> None:
            try:
                answer()
            finally:
                SERVER.finished()

        timer = threading.Timer(SERVER.delay_s, run)
        timer.daemon = True
        timer.start()

    def head(self, key: str, on_done: Callable[[HeadOutcome], None], details: bool = False) -> None:
        fault = SERVER.request("head", key)

        def answer() -> None:
            if fault is not None:
                on_done(HeadOutcome(error=f"HEAD failed: {fault.value}", kind=fault))
                return
            stored = SERVER.buckets.get(self.target.bucket, {}).get(SERVER.stored_key(key))
            if stored is None:
                on_done(HeadOutcome(remote=None))
                return
            remote = RemoteObject(key, len(stored.data), stored.etag, stored.mtime)
            found = object_details(dict(stored.stored_headers)) if details else None
            on_done(HeadOutcome(remote=remote, details=found))

        self._later(answer)

    def list_directory(
        self,
        prefix: str,
        on_done: Callable[[ListOutcome], None],
        start_after: str = "",
        until: str = "",
    ) -> None:
        """Page after page of ``SERVER.page_keys`` keys, each page one request, until a page
        ends at or past ``until`` (or the last page), as the real transports list."""
        fault = SERVER.request("list", prefix)

        def answer() -> None:
            stored = dict(SERVER.buckets.get(self.target.bucket, {}))
            keys = sorted(
                key
                for key in stored
                if key.startswith(prefix) and "/" not in key[len(prefix) :] and key > start_after
            )
            objects: dict[str, RemoteObject] = {}
            failed, start = fault, 0
            while failed is None:
                keys_of_page = keys[start : start + SERVER.page_keys]
                SERVER.listed(len(keys_of_page))
                for key in keys_of_page:
                    obj = stored[key]
                    objects[key] = RemoteObject(key, len(obj.data), obj.etag, obj.mtime)
                start += SERVER.page_keys
                if start >= len(keys) or (until and keys_of_page[-1] >= until):
                    on_done(ListOutcome(objects=objects))
                    return
                failed = SERVER.request("list", prefix)  # the next page
            on_done(ListOutcome(objects={}, error=f"LIST failed: {failed.value}", kind=failed))

        self._later(answer)

    def put(
        self,
        request: PutRequest,
        on_done: Callable[[PutOutcome], None],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        fault = SERVER.request("put", request.key)

        def answer() -> None:
            if self._cancelled.is_set():
                on_done(PutOutcome(error="PUT cancelled", kind=ErrorKind.CANCELLED))
                return
            if fault is not None:
                if on_progress is not None:
                    on_progress(request.size)  # the body went, then the server refused it
                on_done(PutOutcome(error=f"PUT failed: {fault.value}", kind=fault))
                return
            if SERVER.on_put is not None:
                SERVER.on_put(request)
            try:
                data = request.data
                if data is None:
                    assert request.path is not None
                    with open(request.path, "rb") as f:
                        data = f.read()
            except OSError as e:
                on_done(PutOutcome(error=f"PUT failed: {e}", kind=ErrorKind.LOCAL))
                return
            refused = SERVER.refusal(
                "PUT", self.target.bucket, SERVER.stored_key(request.key), request.precondition
            )
            if refused is not None:
                on_done(refused)
                return
            etag = object_etag(data, self.options)
            SERVER.create_bucket(self.target.bucket)[SERVER.stored_key(request.key)] = FakeObject(
                data, etag, time.time(), request.content_type, request.content_encoding,
                request.headers, request.tagging,
            )  # fmt: skip
            if on_progress is not None:
                on_progress(len(data))
            on_done(PutOutcome(etag=etag))

        self._later(answer)

    def copy(
        self,
        source: S3Uri,
        key: str,
        on_done: Callable[[PutOutcome], None],
        tagging: str = "",
        precondition: Precondition | None = None,
    ) -> None:
        fault = SERVER.request("copy", key)

        def answer() -> None:
            if fault is not None:
                on_done(PutOutcome(error=f"COPY failed: {fault.value}", kind=fault))
                return
            if SERVER.on_copy is not None:
                SERVER.on_copy(key)
            bucket, source_key = source
            stored = SERVER.buckets.get(bucket, {}).get(source_key)
            if stored is None:
                on_done(PutOutcome(error="COPY failed: no source", kind=ErrorKind.NOT_FOUND))
                return
            refused = SERVER.refusal(
                "COPY", self.target.bucket, SERVER.stored_key(key), precondition
            )
            if refused is not None:
                on_done(refused)
                return
            # As S3 does: the copy keeps the metadata, and the tags unless they are replaced.
            SERVER.create_bucket(self.target.bucket)[SERVER.stored_key(key)] = dataclasses.replace(
                stored, mtime=time.time(), tagging=tagging or stored.tagging
            )
            on_done(PutOutcome(etag=stored.etag))

        self._later(answer)

    def cancel_expired(self) -> None:
        """Nothing outlives its delay here."""

    def cancel_all(self) -> None:
        self._cancelled.set()

    def close(self) -> None:
        """Nothing to release."""


class _Upload(io.BytesIO):
    def __init__(self, store: Callable[[bytes], None]) -> None:
        super().__init__()
        self._store = store

    def close(self) -> None:
        if not self.closed:
            self._store(self.getvalue())
        super().close()


class FakeControl(Control):
    def __init__(self, options: TransportOptions) -> None:
        self._options = options

    def check_bucket(self, bucket: str) -> None:
        fault = SERVER.request("check_bucket", bucket)
        if fault is not None:
            raise S3Error(fault, f"HEAD bucket {bucket}: {fault.value}")
        SERVER.bucket(bucket)

    def list_objects(self, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
        fault = SERVER.request("list_objects", f"s3://{bucket}/{prefix}")
        if fault is not None:
            raise S3Error(fault, f"LIST s3://{bucket}/{prefix}: {fault.value}")
        for key, stored in sorted(SERVER.bucket(bucket).items()):
            if key.startswith(prefix):
                yield ObjectInfo(key, len(stored.data), stored.etag, stored.mtime)

    def exists(self, bucket: str, key: str) -> bool:
        return SERVER.stored_key(key) in SERVER.bucket(bucket)

    @contextlib.contextmanager
    def read(self, uri: str) -> Iterator[IO[bytes]]:
        fault = SERVER.request("read", uri)
        if fault is not None:
            raise S3Error(fault, f"GET {uri}: {fault.value}")
        bucket, key = S3Uri.parse(uri)
        stored = SERVER.bucket(bucket).get(key)
        if stored is None:
            raise S3Error(ErrorKind.NOT_FOUND, f"GET {uri}: no such key")
        yield io.BytesIO(stored.data)

    @contextlib.contextmanager
    def write(self, uri: str) -> Iterator[IO[bytes]]:
        fault = SERVER.request("write", uri)
        if fault is not None:
            raise S3Error(fault, f"PUT {uri}: {fault.value}")
        bucket, key = S3Uri.parse(uri)
        objects = SERVER.bucket(bucket)

        def store(data: bytes) -> None:
            objects[key] = FakeObject(data, object_etag(data, self._options), time.time())

        with _Upload(store) as stream:
            yield stream

    def open_uploads(self, bucket: str, prefix: str) -> Iterator[OpenUpload]:
        SERVER.request("open_uploads", f"s3://{bucket}/{prefix}")
        yield from (u for u in SERVER.uploads[bucket] if u.key.startswith(prefix))

    def delete_objects(self, bucket: str, keys: list[str]) -> dict[str, str]:
        objects, refused = SERVER.bucket(bucket), {}
        SERVER.request("delete_objects", str(len(keys)))
        for key in keys:
            fault = SERVER.request("delete", key)
            if fault is not None:
                refused[key] = f"AccessDenied: {fault.value}"
            else:
                objects.pop(SERVER.stored_key(key), None)
        return refused

    def abort_upload(self, bucket: str, upload: OpenUpload) -> None:
        SERVER.request("abort_upload", f"s3://{bucket}/{upload.key}")
        SERVER.uploads[bucket].remove(upload)
