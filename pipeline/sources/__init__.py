"""The kinds of SOURCE, one module each, behind one interface (``base.Source``).

- ``filesystem``: directories, files and globs, split into directory subtrees and walked
  where they land;
- ``tar``: tar archives (local or s3://), streamed member by member;
- ``bucket``: s3://bucket/prefix, for server-side copies;
- ``file_list``: ``--files-from``, a list of paths under one SOURCE directory, read in
  parallel on a cluster (a PBegin transform, as it reads no SOURCE text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pipeline.options import WalkKind
    from pipeline.sources.base import Source


def source_for(walk: WalkKind) -> Source:
    """The Source of ``--walk``; modules are imported on first use."""
    from pipeline.options import WalkKind

    if walk is WalkKind.TAR:
        from pipeline.sources.tar import TarSource

        return TarSource()
    if walk is WalkKind.S3:
        from pipeline.sources.bucket import BucketSource

        return BucketSource()
    from pipeline.sources.filesystem import FilesystemSource

    return FilesystemSource()
