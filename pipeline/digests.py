"""A body's digests, all computed in one read: its MD5, the multipart ETags it would have
with given part sizes, and the full-object checksums S3 may store with an object.

A digest is named by a short spec: ``md5``; ``parts=N`` (the ETag of a multipart upload
in parts of N bytes: the MD5 of the parts' MD5s, then ``-`` and the number of parts); or
a checksum algorithm (``crc64nvme``, ``crc32``, ``crc32c``, ``sha256``, ``sha1``), whose
value is base64 of the big-endian digest, as S3 returns it in ``x-amz-checksum-*``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from collections.abc import Callable, Iterable
from typing import Protocol

from awscrt import checksums as crt_checksums

MD5 = "md5"
_PARTS = "parts="
_READ = 1024 * 1024


def multipart(part_size: int) -> str:
    """The spec of the multipart ETag with parts of ``part_size`` bytes."""
    return f"{_PARTS}{part_size}"


class _Digester(Protocol):
    def update(self, data: memoryview) -> None: ...

    def result(self) -> str: ...


class _Md5:
    def __init__(self) -> None:
        self._md5 = hashlib.md5(usedforsecurity=False)

    def update(self, data: memoryview) -> None:
        self._md5.update(data)

    def result(self) -> str:
        return self._md5.hexdigest()


class _Multipart:
    """The ETag S3 gives a multipart upload of the body in parts of ``part_size``."""

    def __init__(self, part_size: int) -> None:
        self._part_size = part_size
        self._left = part_size
        self._part = hashlib.md5(usedforsecurity=False)
        self._digests: list[bytes] = []

    def update(self, data: memoryview) -> None:
        while len(data) >= self._left:
            self._part.update(data[: self._left])
            data = data[self._left :]
            self._digests.append(self._part.digest())
            self._part = hashlib.md5(usedforsecurity=False)
            self._left = self._part_size
        if data:
            self._part.update(data)
            self._left -= len(data)

    def result(self) -> str:
        digests = list(self._digests)
        if self._left < self._part_size or not digests:
            digests.append(self._part.digest())
        combined = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
        return f"{combined}-{len(digests)}"


class _Hash:
    """A full-object checksum by a hashlib algorithm (SHA-1, SHA-256)."""

    def __init__(self, name: str) -> None:
        self._hash = hashlib.new(name, usedforsecurity=False)

    def update(self, data: memoryview) -> None:
        self._hash.update(data)

    def result(self) -> str:
        return base64.b64encode(self._hash.digest()).decode()


class _Crc:
    """A full-object CRC checksum, ``width`` bytes wide."""

    def __init__(self, step: Callable[[bytes | memoryview, int], int], width: int) -> None:
        self._step = step
        self._width = width
        self._crc = 0

    def update(self, data: memoryview) -> None:
        self._crc = self._step(data, self._crc)

    def result(self) -> str:
        return base64.b64encode(self._crc.to_bytes(self._width, "big")).decode()


_CHECKSUMS: dict[str, Callable[[], _Digester]] = {
    "crc64nvme": lambda: _Crc(crt_checksums.crc64nvme, 8),
    "crc32": lambda: _Crc(zlib.crc32, 4),
    "crc32c": lambda: _Crc(crt_checksums.crc32c, 4),
    "sha256": lambda: _Hash("sha256"),
    "sha1": lambda: _Hash("sha1"),
}
CHECKSUM_ALGORITHMS = tuple(_CHECKSUMS)  # the full-object checksums this module computes


def _digester(spec: str) -> _Digester:
    if spec == MD5:
        return _Md5()
    if spec.startswith(_PARTS):
        return _Multipart(int(spec[len(_PARTS) :]))
    return _CHECKSUMS[spec]()


def compute(stream: io.BufferedIOBase, specs: Iterable[str]) -> dict[str, str]:
    """Each digest in ``specs`` of the bytes read from ``stream``, reading them once."""
    digesters = {spec: _digester(spec) for spec in specs}
    buffer = bytearray(_READ)
    view = memoryview(buffer)
    while n := stream.readinto(view):
        for digester in digesters.values():
            digester.update(view[:n])
    return {spec: digester.result() for spec, digester in digesters.items()}
