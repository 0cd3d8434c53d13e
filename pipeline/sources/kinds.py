"""Which Source walks a run's SOURCEs (``--walk``)."""

from __future__ import annotations

from pipeline.options import WalkKind
from pipeline.sources.base import Source


def source_for(walk: WalkKind) -> Source:
    """The Source of ``--walk``; modules are imported on first use."""
    if walk is WalkKind.TAR:
        from pipeline.sources.tar import TarSource

        return TarSource()
    if walk is WalkKind.S3:
        from pipeline.sources.bucket import BucketSource

        return BucketSource()
    from pipeline.sources.filesystem import FilesystemSource

    return FilesystemSource()
