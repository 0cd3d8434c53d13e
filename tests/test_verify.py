"""Units: whether an object holds a file's bytes, whichever tool stored it."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import pytest

from pipeline.digests import MD5, compute, multipart
from pipeline.etags import MiB
from pipeline.records import ObjectDetails, RemoteObject, StoredChecksum
from pipeline.verify import Settled, Verdict, by_details, by_etag
from tests.conftest import last_byte_changed

DATA = os.urandom(20 * MiB + 5)
OWN = 8 * MiB  # the part size this tool would use for DATA


class _Bytes:
    """A file's digests from memory, counting the reads; ``remembered`` as a cache."""

    def __init__(self, data: bytes, remembered: dict[str, str] | None = None) -> None:
        self.data = data
        self.remembered = dict(remembered or {})
        self.reads: list[list[str]] = []

    def known(self, specs: Sequence[str]) -> dict[str, str]:
        return {s: self.remembered[s] for s in specs if s in self.remembered}

    def compute(self, specs: Sequence[str]) -> dict[str, str]:
        missing = [s for s in specs if s not in self.remembered]
        if missing:
            self.reads.append(missing)
            self.remembered.update(compute(io.BytesIO(self.data), missing))
        return {s: self.remembered[s] for s in specs}


def _stored(data: bytes, spec: str) -> RemoteObject:
    return RemoteObject("k", len(data), compute(io.BytesIO(data), [spec])[spec], 1000.0)


def test_a_plain_etag_is_the_md5_whatever_the_size() -> None:
    # A 20 MiB file stored by one PUT (s5cmd, boto3 put_object, the original script).
    local = _Bytes(DATA)
    assert by_etag(_stored(DATA, MD5), local, OWN) == Verdict(True, "unchanged")
    assert local.reads == [[MD5]]
    changed = last_byte_changed(DATA)
    assert by_etag(_stored(changed, MD5), _Bytes(DATA), OWN) == Verdict(False, "changed")


@pytest.mark.parametrize(
    ("part_size", "reason"),
    [
        (OWN, "unchanged"),
        (5 * MiB, "unchanged (5 MiB parts)"),  # rclone
        (16 * MiB, "unchanged (16 MiB parts)"),  # minio's mc
        (7 * MiB, "unchanged (7 MiB parts)"),  # no tool's default: a whole-MiB size
    ],
)
def test_a_multipart_etag_is_matched_with_the_part_size_it_was_made_with(
    part_size: int, reason: str
) -> None:
    local = _Bytes(DATA)
    assert by_etag(_stored(DATA, multipart(part_size)), local, OWN) == Verdict(True, reason)


def test_the_likely_part_sizes_are_read_first_and_the_rest_only_without_a_match() -> None:
    # 20 MiB in 3 parts: the tools' 8 MiB and 10 MiB, then 7 and 9 MiB.
    local = _Bytes(DATA)
    by_etag(_stored(DATA, multipart(8 * MiB)), local, OWN)
    assert local.reads == [[multipart(8 * MiB), multipart(10 * MiB)]]

    local = _Bytes(DATA)
    by_etag(_stored(DATA, multipart(9 * MiB)), local, OWN)
    assert local.reads[1] == [multipart(7 * MiB), multipart(9 * MiB)]


def test_a_multipart_upload_of_one_part() -> None:
    verdict = by_etag(_stored(DATA, multipart(len(DATA))), _Bytes(DATA), OWN)
    assert verdict == Verdict(True, "unchanged (one part)")


def test_a_remembered_digest_is_used_before_anything_is_read() -> None:
    spec = multipart(9 * MiB)
    remembered = {spec: compute(io.BytesIO(DATA), [spec])[spec]}
    local = _Bytes(DATA, remembered)
    assert by_etag(_stored(DATA, spec), local, OWN) == Verdict(True, "unchanged (9 MiB parts)")
    assert local.reads == []


def test_a_multipart_etag_no_part_size_matches() -> None:
    other = last_byte_changed(DATA)
    # Every whole-MiB size giving 3 parts was tried: the bytes differ.
    verdict = by_etag(_stored(other, multipart(8 * MiB)), _Bytes(DATA), OWN)
    assert verdict == Verdict(False, "changed")
    # 60 MiB in 2 parts: 30 whole-MiB sizes would do, more than are tried.
    big = os.urandom(60 * MiB)
    verdict = by_etag(_stored(last_byte_changed(big), multipart(50 * MiB)), _Bytes(big), OWN)
    assert verdict == Verdict(None, "cannot verify")


def test_parts_of_several_sizes_cannot_be_verified() -> None:
    remote = RemoteObject("k", len(DATA), "0" * 32 + "-500")  # 500 parts cannot be equal
    assert by_etag(remote, _Bytes(DATA), OWN) == Verdict(None, "cannot verify")


def test_an_etag_that_is_no_md5_is_said_so() -> None:
    remote = RemoteObject("k", len(DATA), "server-etag-1")
    local = _Bytes(DATA)
    assert by_etag(remote, local, OWN) == Verdict(None, "cannot verify", etag_is_md5=False)
    assert local.reads == []


KMS = ObjectDetails(etag_is_md5=False)
PLAIN = ObjectDetails()
OBJECT = RemoteObject("k", len(DATA), "f" * 32, mtime=1000.0)


def _checksum(data: bytes, algorithm: str) -> ObjectDetails:
    value = compute(io.BytesIO(data), [algorithm])[algorithm]
    return ObjectDetails(checksum=StoredChecksum(algorithm, value), etag_is_md5=False)


@pytest.mark.parametrize("algorithm", ["crc64nvme", "crc32", "crc32c", "sha256", "sha1"])
def test_a_stored_checksum_settles_it(algorithm: str) -> None:
    verdict = Verdict(False, "changed")
    same = by_details(verdict, _checksum(DATA, algorithm), OBJECT, _Bytes(DATA), 0.0)
    assert same == Settled(False, f"unchanged ({algorithm.upper()} checksum)")
    other = by_details(
        verdict, _checksum(last_byte_changed(DATA), algorithm), OBJECT, _Bytes(DATA), 0.0
    )
    assert other == Settled(True, "changed")


@pytest.mark.parametrize(
    ("verdict", "details"),
    [
        (Verdict(False, "changed"), KMS),  # an MD5's form, but SSE-KMS
        (Verdict(None, "cannot verify", etag_is_md5=False), PLAIN),  # the server's own
    ],
)
def test_an_etag_that_is_no_md5_without_a_checksum_falls_back_to_the_mtime(
    verdict: Verdict, details: ObjectDetails
) -> None:
    local = _Bytes(DATA)
    older = by_details(verdict, details, OBJECT, local, 999.0)
    assert older == Settled(False, "same size, not newer (its ETag is no MD5)", by_mtime=True)
    newer = by_details(verdict, details, OBJECT, local, 1001.0)
    assert newer == Settled(True, "newer than the object (its ETag is no MD5)", by_mtime=True)
    assert local.reads == []


def test_an_md5_etag_without_a_checksum_keeps_the_verdict() -> None:
    for verdict in (Verdict(False, "changed"), Verdict(None, "cannot verify")):
        settled = by_details(verdict, PLAIN, OBJECT, _Bytes(DATA), 5000.0)
        assert settled == Settled(True, verdict.reason)
