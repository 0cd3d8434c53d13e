"""Units: a body's digests, computed in one read."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import zlib

from awscrt import checksums

from pipeline.digests import CHECKSUM_ALGORITHMS, MD5, compute, multipart

DATA = os.urandom(3 * 1024 * 1024 + 17)  # three 1 MiB reads and a bit


def _multipart_etag(data: bytes, part_size: int) -> str:
    """The ETag S3 gives a multipart upload, computed the plain way."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)]
    digests = b"".join(hashlib.md5(part).digest() for part in parts)
    return f"{hashlib.md5(digests).hexdigest()}-{len(parts)}"


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def test_every_digest_of_one_read_is_the_one_computed_alone() -> None:
    specs = [MD5, multipart(1024 * 1024), multipart(700_001), multipart(len(DATA)), "crc32"]
    together = compute(io.BytesIO(DATA), specs)

    assert together == {spec: compute(io.BytesIO(DATA), [spec])[spec] for spec in specs}
    assert together[MD5] == hashlib.md5(DATA).hexdigest()
    assert together[multipart(1024 * 1024)] == _multipart_etag(DATA, 1024 * 1024)
    assert together[multipart(700_001)] == _multipart_etag(DATA, 700_001)
    assert together[multipart(len(DATA))] == _multipart_etag(DATA, len(DATA))  # one part


def test_a_part_size_that_divides_the_body_makes_no_empty_last_part() -> None:
    data = DATA[: 2 * 1024 * 1024]
    assert compute(io.BytesIO(data), [multipart(1024 * 1024)]) == {
        multipart(1024 * 1024): _multipart_etag(data, 1024 * 1024)
    }
    assert compute(io.BytesIO(data), [multipart(1024 * 1024)])[multipart(1024 * 1024)][-2:] == "-2"


def test_full_object_checksums_are_base64_of_the_big_endian_digest() -> None:
    found = compute(io.BytesIO(DATA), CHECKSUM_ALGORITHMS)

    assert found == {
        "crc64nvme": _b64(checksums.crc64nvme(DATA).to_bytes(8, "big")),
        "crc32": _b64(zlib.crc32(DATA).to_bytes(4, "big")),
        "crc32c": _b64(checksums.crc32c(DATA).to_bytes(4, "big")),
        "sha256": _b64(hashlib.sha256(DATA).digest()),
        "sha1": _b64(hashlib.sha1(DATA).digest()),
    }
    # As S3 documents it: the CRC32 of "hello" is NhCmhg==.
    assert compute(io.BytesIO(b"hello"), ["crc32"]) == {"crc32": "NhCmhg=="}


def test_an_empty_body() -> None:
    assert compute(io.BytesIO(b""), [MD5, "sha256"]) == {
        MD5: hashlib.md5(b"").hexdigest(),
        "sha256": _b64(hashlib.sha256(b"").digest()),
    }
