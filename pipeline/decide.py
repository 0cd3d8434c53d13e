"""The put decision: upload a file or leave the object that is there."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.options import PutMode
from pipeline.records import RemoteObject


def decide_put(
    mode: PutMode,
    remote: RemoteObject | None,
    local_size: int | None,
    local_etag: Callable[[], str],
) -> tuple[bool, str]:
    """(upload?, reason) for --put add or update (stupid and copy are decided without a
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
    if local_etag() == remote.etag.strip('"'):
        return False, "unchanged"
    return True, "changed"
