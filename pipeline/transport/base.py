"""The transport interface: asynchronous HEAD and PUT whose failures are values."""

from __future__ import annotations

import abc
from concurrent.futures import Future
from dataclasses import dataclass

from pipeline.records import RemoteObject


@dataclass(frozen=True)
class PutRequest:
    key: str
    path: str  # the file holding exactly the bytes to send
    size: int
    content_type: str
    content_encoding: str | None = None


@dataclass(frozen=True)
class PutOutcome:
    etag: str = ""
    error: str = ""  # empty when the object was stored


@dataclass(frozen=True)
class HeadOutcome:
    remote: RemoteObject | None = None  # None: no such key
    error: str = ""  # empty when the answer is known


class Transport(abc.ABC):
    """Sends requests for one bucket; many may be in flight at once."""

    @abc.abstractmethod
    def head(self, key: str) -> Future[HeadOutcome]:
        """What the bucket holds under ``key``."""

    @abc.abstractmethod
    def put(self, request: PutRequest) -> Future[PutOutcome]:
        """Store a file; large ones go as a multipart upload that is aborted on failure."""

    @abc.abstractmethod
    def close(self) -> None:
        """Wait for nothing more and release connections."""
