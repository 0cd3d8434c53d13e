"""The end-of-run summary as a person reads it, or as one JSON object."""

from __future__ import annotations

import json
from typing import Any

from pipeline.naming import printable
from pipeline.results import Summary


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def summary_json(summary: Summary, elapsed: float, dry_run: bool) -> str:
    data: dict[str, Any] = summary.to_dict()
    data["elapsed_seconds"] = round(elapsed, 3)
    data["files_per_second"] = round(summary.files / elapsed, 1) if elapsed else 0.0
    data["dry_run"] = dry_run
    return json.dumps(data)  # ASCII: undecodable names survive as \udcXX escapes


def summary_text(
    summary: Summary, elapsed: float, dry_run: bool, failures_shown: bool = False
) -> str:
    """The summary; ``failures_shown``: each failure was printed as it happened, so the
    summary only counts them."""
    rate = summary.bytes_uploaded / elapsed if elapsed else 0.0
    per_second = summary.files / elapsed if elapsed else 0.0
    lines = [
        (
            f"{summary.files} files: {summary.uploaded} uploaded, {summary.skipped} skipped, "
            f"{summary.failed} failed"
            + (f", {summary.not_started} not started" if summary.not_started else "")
            + (f", {summary.retries} retried" if summary.retries else "")
            + (f", {summary.would_upload} would be uploaded (dry run)" if dry_run else "")
            + (f"; {summary.deleted} objects deleted" if summary.deleted else "")
            + (f"; {summary.would_delete} would be deleted" if summary.would_delete else "")
        ),
        (
            f"{_size(summary.bytes_uploaded)} sent in {elapsed:.2f} s "
            f"({_size(rate)}/s, {per_second:.0f} files/s)"
        ),
    ]
    if failures_shown:
        return "\n".join(lines)
    for failure in summary.failures:
        lines.append(f"  failed: {printable(failure['path'])}: {failure['error']}")
    if summary.failed > len(summary.failures):
        lines.append(f"  ... and {summary.failed - len(summary.failures)} more failures")
    return "\n".join(lines)
