"""The transport interface: asynchronous HEAD, LIST and PUT whose failures are values.

Each call returns at once; ``on_done`` is called exactly once with the outcome, on a
transport thread, so it must be quick and thread-safe (e.g. put it on a queue). A failed
outcome carries an ``ErrorKind`` (what the caller acts on) and a message (what a person
reads). The synchronous requests of the control plane (bucket checks, listings of
sources and reports, report files, open multipart uploads) are the transport's too:
``Transport.open_control``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipeline.digests import CHECKSUM_ALGORITHMS
from pipeline.records import ObjectDetails, Precondition, RemoteObject, StoredChecksum
from pipeline.s3uri import S3Uri
from pipeline.transport.errors import ErrorKind

if TYPE_CHECKING:
    from pipeline.options import TargetOptions, TransportOptions
    from pipeline.transport.control import Control


@dataclass(frozen=True)
class PutRequest:
    key: str
    path: str | None  # the file holding exactly the bytes to send, or
    data: bytes | None  # the bytes themselves
    size: int
    content_type: str
    content_encoding: str | None = None
    headers: tuple[tuple[str, str], ...] = ()  # metadata: Cache-Control, x-amz-meta-*, ...
    tagging: str = ""  # the x-amz-tagging header (URL-encoded 'k=v&k2=v2'); '' for no tags
    # What the key must hold for the write to happen (a multipart upload: when it is
    # completed); None: write whatever is there.
    precondition: Precondition | None = None


@dataclass(frozen=True)
class PutOutcome:
    etag: str = ""
    error: str = ""  # empty when the object was stored
    kind: ErrorKind | None = None  # set when ``error`` is

    @property
    def retryable(self) -> bool:
        return self.kind is not None and self.kind.retryable

    @property
    def cancelled(self) -> bool:
        return self.kind is ErrorKind.CANCELLED


@dataclass(frozen=True)
class HeadOutcome:
    remote: RemoteObject | None = None  # None: no such key
    error: str = ""  # empty when the answer is known
    kind: ErrorKind | None = None
    details: ObjectDetails | None = None  # when asked for, of ``remote``


_CHECKSUM_HEADER = "x-amz-checksum-"
_ETAG_NOT_MD5 = ("aws:kms", "aws:kms:dsse")  # x-amz-server-side-encryption values


def object_details(headers: Mapping[str, str]) -> ObjectDetails:
    """The details in a HEAD's answer (lower-case header names) sent with checksum mode:
    a full-object checksum (a composite one, of parts, is left out), and whether the
    object is encrypted with SSE-KMS or SSE-C, whose ETag is not an MD5."""
    checksum = None
    if headers.get("x-amz-checksum-type", "FULL_OBJECT").upper() == "FULL_OBJECT":
        for algorithm in CHECKSUM_ALGORITHMS:
            value = headers.get(_CHECKSUM_HEADER + algorithm, "")
            if value and "-" not in value:
                checksum = StoredChecksum(algorithm, value)
                break
    encrypted = (
        headers.get("x-amz-server-side-encryption", "").lower() in _ETAG_NOT_MD5
        or "x-amz-server-side-encryption-customer-algorithm" in headers
    )
    return ObjectDetails(checksum=checksum, etag_is_md5=not encrypted)


@dataclass(frozen=True)
class ListOutcome:
    objects: dict[str, RemoteObject]  # key -> object, for keys directly under the prefix
    error: str = ""
    kind: ErrorKind | None = None


class Transport(abc.ABC):
    """Sends requests for one bucket (``target.bucket``); many may be in flight at once."""

    def __init__(self, target: TargetOptions, options: TransportOptions) -> None:
        self.target = target
        self.options = options

    @classmethod
    def open_control(cls, target: TargetOptions, options: TransportOptions) -> Control:
        """The control plane for ``target``'s endpoint (botocore unless overridden)."""
        from pipeline.transport.boto import BotocoreControl

        return BotocoreControl(target)

    @abc.abstractmethod
    def head(self, key: str, on_done: Callable[[HeadOutcome], None], details: bool = False) -> None:
        """What the bucket holds under ``key``; with ``details``, asked with checksum mode
        on and with its ``ObjectDetails``."""

    @abc.abstractmethod
    def list_directory(
        self,
        prefix: str,
        on_done: Callable[[ListOutcome], None],
        start_after: str = "",
        until: str = "",
    ) -> None:
        """The objects directly under ``prefix`` (a '/'-delimited listing).

        Only keys after ``start_after`` (when given) are listed, and no page is fetched
        past one that reached ``until`` (when given): the part of a directory one shard
        covers.
        """

    @abc.abstractmethod
    def put(
        self,
        request: PutRequest,
        on_done: Callable[[PutOutcome], None],
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        """Store a file; large ones go as a multipart upload that is aborted on failure.

        ``on_progress`` gets the bytes sent as they go (from transport threads; a
        negative count when a part is sent again); the caller settles the total when the
        request is done.
        """

    @abc.abstractmethod
    def copy(
        self,
        source: S3Uri,
        key: str,
        on_done: Callable[[PutOutcome], None],
        tagging: str = "",
        precondition: Precondition | None = None,
    ) -> None:
        """Copy the object at ``source`` to ``key``, server-side.

        The copy keeps the source's metadata, and its tags unless ``tagging`` (an
        x-amz-tagging header) replaces them; ``precondition``: what ``key`` must hold
        for the copy to happen.
        """

    @abc.abstractmethod
    def cancel_expired(self) -> None:
        """Cancel requests past their deadline (they then finish as timed out)."""

    @abc.abstractmethod
    def cancel_all(self) -> None:
        """Cancel every request in flight (multipart uploads are aborted)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for nothing more and release connections."""
