"""The rules of the put decision (`--put`, `--compare`): upload a file or leave the
object that is there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.options import CompareMode, PutMode
from pipeline.records import RemoteObject
from pipeline.verify import Verdict


@dataclass(frozen=True)
class Decision:
    upload: bool
    reason: str
    # Set when the ETag left it open: a HEAD with checksum mode may settle it (verify).
    unsettled: Verdict | None = None


def decide_put(
    mode: PutMode,
    remote: RemoteObject | None,
    local_size: int | None,
    by_etag: Callable[[RemoteObject], Verdict],
    compare: CompareMode = CompareMode.CHECKSUM,
    local_mtime: float = 0.0,
) -> Decision:
    """Upload or not, and why, for --put add, update or copy (stupid is decided without a
    comparison). ``local_size`` is None when the stored size cannot be known beforehand
    (a gzipped body); ``by_etag`` (which reads the file) is called only when it must be.

    Only the bytes are compared, never the metadata or the tags (``--tag``), as ``aws s3
    sync`` does: an unchanged object keeps the tags it has (``--put stupid`` sets them on
    every object again). Comparing them would cost a GetObjectTagging per object.
    """
    if remote is None:
        return Decision(True, "new")
    if mode is PutMode.ADD:
        return Decision(False, "exists")
    if local_size is not None and remote.size != local_size:
        return Decision(True, "size differs")
    if compare is CompareMode.SIZE:
        return Decision(False, "same size")
    if compare is CompareMode.SIZE_MTIME:
        if local_mtime > remote.mtime:
            return Decision(True, "newer than the object")
        return Decision(False, "same size, not newer")
    verdict = by_etag(remote)
    if verdict.same:
        return Decision(False, verdict.reason)
    return Decision(True, verdict.reason, verdict if verdict.ask else None)
