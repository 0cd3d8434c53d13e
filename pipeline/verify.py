"""Whether an object holds a file's bytes (``--compare checksum``), whichever tool stored
it: first by its ETag (see ``etags``), then, when that cannot tell, by what a HEAD with
checksum mode shows: a stored full-object checksum, or that the ETag is no MD5.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline.digests import MD5, multipart
from pipeline.etags import StoredEtag, describe, part_sizes
from pipeline.records import ObjectDetails, RemoteObject

UNCHANGED = "unchanged"
CHANGED = "changed"
CANNOT_VERIFY = "cannot verify"
_NOT_MD5 = "its ETag is no MD5"


class LocalDigests(Protocol):
    """A file's digests by spec (see ``digests``)."""

    def known(self, specs: Sequence[str]) -> dict[str, str]:
        """Those remembered: nothing is read."""

    def compute(self, specs: Sequence[str]) -> dict[str, str]:
        """All of them: remembered, or read (once for all)."""


@dataclass(frozen=True)
class Verdict:
    """What the ETag says: the same bytes (True), others (False) or it cannot tell."""

    same: bool | None
    reason: str
    etag_is_md5: bool = True  # False: its form shows the ETag is no MD5
    ask: bool = True  # a HEAD with checksum mode may tell more (when not the same)


def by_etag(remote: RemoteObject, local: LocalDigests, own_part_size: int) -> Verdict:
    """Compare the file's digests with ``remote``'s ETag: a plain one is the MD5 of the
    whole object, a multipart one is tried with the part sizes that give its number of
    parts (``own_part_size``, the one this tool would use, first)."""
    stored = StoredEtag.parse(remote.etag)
    if stored is None:
        return Verdict(None, CANNOT_VERIFY, etag_is_md5=False)
    if stored.parts is None:
        same = local.compute([MD5])[MD5] == stored.digest
        return Verdict(True, UNCHANGED) if same else Verdict(False, CHANGED)
    sizes = part_sizes(remote.size, stored.parts, own_part_size)
    if not sizes.all:  # no equal parts make this many: parts of several sizes
        return Verdict(None, CANNOT_VERIFY)
    expected = f"{stored.digest}-{stored.parts}"
    by_spec = {multipart(size): size for size in sizes.all}
    # Remembered digests first (nothing to read), then those of the tools' part sizes,
    # then the other whole-MiB sizes, each group in one read.
    for found in (
        lambda: local.known(list(by_spec)),
        lambda: local.compute([multipart(size) for size in sizes.likely]),
        lambda: local.compute([multipart(size) for size in sizes.others]),
    ):
        for spec, value in found().items():
            if value == expected:
                size = by_spec[spec]
                if size == own_part_size:
                    return Verdict(True, UNCHANGED)
                parts = "one part" if stored.parts == 1 else describe(size)
                return Verdict(True, f"{UNCHANGED} ({parts})")
    return Verdict(False, CHANGED) if sizes.complete else Verdict(None, CANNOT_VERIFY)


@dataclass(frozen=True)
class Settled:
    """The decision once a HEAD showed the object's details."""

    upload: bool
    reason: str
    by_mtime: bool = False  # no checksum and no MD5 to compare: decided by size and mtime


def by_details(
    verdict: Verdict,
    details: ObjectDetails,
    remote: RemoteObject,
    local: LocalDigests,
    local_mtime: float,
) -> Settled:
    """Settle what ``verdict`` left open with the object's full-object checksum, else, for
    an ETag that is no MD5 (SSE-KMS, SSE-C, some servers), by its mtime (the sizes are
    equal), as ``--compare size-mtime`` does."""
    if details.checksum is not None:
        algorithm, value = details.checksum.algorithm, details.checksum.value
        if local.compute([algorithm])[algorithm] == value:
            return Settled(False, f"{UNCHANGED} ({algorithm.upper()} checksum)")
        return Settled(True, CHANGED)
    if not (verdict.etag_is_md5 and details.etag_is_md5):
        if local_mtime > remote.mtime:
            return Settled(True, f"newer than the object ({_NOT_MD5})", by_mtime=True)
        return Settled(False, f"same size, not newer ({_NOT_MD5})", by_mtime=True)
    return Settled(True, verdict.reason)
