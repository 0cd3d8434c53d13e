"""s3-parallel-put: upload trees of files to S3-compatible storage with Apache Beam.

As a library (Apache Beam imported on first use)::

    from pipeline import CountResults, UploadConfig, UploadSources
    results = sources | UploadSources(UploadConfig.for_bucket("b", prefix="site/"))
    summaries = results | CountResults()

``UploadSources`` turns a PCollection of SOURCE paths into a PCollection of
``FileResult``s (one per file: uploaded, skipped or failed, with the reason);
``CountResults`` folds them into one ``Summary`` (the run's counts and first failures).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pipeline.graph import UploadShards, UploadSources, UploadTree
    from pipeline.options import UploadConfig
    from pipeline.records import Action, FileResult
    from pipeline.results import CountResults
    from pipeline.summary import Summary

_EXPORTS = {
    "Action": "pipeline.records",
    "CountResults": "pipeline.results",
    "FileResult": "pipeline.records",
    "Summary": "pipeline.summary",
    "UploadConfig": "pipeline.options",
    "UploadShards": "pipeline.graph",
    "UploadSources": "pipeline.graph",
    "UploadTree": "pipeline.graph",
}
__all__ = [
    "Action",
    "CountResults",
    "FileResult",
    "Summary",
    "UploadConfig",
    "UploadShards",
    "UploadSources",
    "UploadTree",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import on first use, so that ``s3-parallel-put --help`` does not load Beam."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipeline' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
