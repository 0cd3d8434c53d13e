"""The put decision: upload a file or leave the object that is there."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.options import CompareMode, PutMode
from pipeline.records import RemoteObject


def decide_put(
    mode: PutMode,
    remote: RemoteObject | None,
    local_size: int | None,
    local_etag: Callable[[], str],
    compare: CompareMode = CompareMode.CHECKSUM,
    local_mtime: float = 0.0,
) -> tuple[bool, str]:
    """(upload?, reason) for --put add, update or copy (stupid is decided without a
    comparison). ``local_size`` is None when the stored size cannot be known beforehand
    (a gzipped body); ``local_etag`` is called only when it must be.

    Only the bytes are compared, never the metadata or the tags (``--tag``), as ``aws s3
    sync`` does: an unchanged object keeps the tags it has (``--put stupid`` sets them on
    every object again). Comparing them would cost a GetObjectTagging per object.
    """
    if remote is None:
        return True, "new"
    if mode is PutMode.ADD:
        return False, "exists"
    if local_size is not None and remote.size != local_size:
        return True, "size differs"
    if compare is CompareMode.SIZE:
        return False, "same size"
    if compare is CompareMode.SIZE_MTIME:
        if local_mtime > remote.mtime:
            return True, "newer than the object"
        return False, "same size, not newer"
    if local_etag() == remote.etag.strip('"'):
        return False, "unchanged"
    return True, "changed"
