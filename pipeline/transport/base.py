"""The transport interface: asynchronous HEAD, LIST and PUT whose failures are values.

Each call returns at once; ``on_done`` is called exactly once with the outcome, on a
transport thread, so it must be quick and thread-safe (e.g. put it on a queue).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.records import RemoteObject


@dataclass(frozen=True)
class PutRequest:
    key: str
    path: str | None  # the file holding exactly the bytes to send, or
    data: bytes | None  # the bytes themselves
    size: int
    content_type: str
    content_encoding: str | None = None


@dataclass(frozen=True)
class PutOutcome:
    etag: str = ""
    error: str = ""  # empty when the object was stored
    retryable: bool = False  # worth sending again (e.g. the body was damaged on the way)
    cancelled: bool = False  # stopped by cancel_all (Ctrl-C): nothing was stored


@dataclass(frozen=True)
class HeadOutcome:
    remote: RemoteObject | None = None  # None: no such key
    error: str = ""  # empty when the answer is known


@dataclass(frozen=True)
class ListOutcome:
    objects: dict[str, RemoteObject]  # key -> object, for keys directly under the prefix
    error: str = ""


class Transport(abc.ABC):
    """Sends requests for one bucket; many may be in flight at once."""

    @abc.abstractmethod
    def head(self, key: str, on_done: Callable[[HeadOutcome], None]) -> None:
        """What the bucket holds under ``key``."""

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

        ``on_progress`` gets the bytes sent as they go (from transport threads).
        """

    @abc.abstractmethod
    def copy(self, source: str, key: str, on_done: Callable[[PutOutcome], None]) -> None:
        """Copy the object at ``source`` ('bucket/key') to ``key``, server-side."""

    @abc.abstractmethod
    def cancel_expired(self) -> None:
        """Cancel requests past their deadline (they then finish as timed out)."""

    @abc.abstractmethod
    def cancel_all(self) -> None:
        """Cancel every request in flight (multipart uploads are aborted)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for nothing more and release connections."""
