"""What the command line says when a run ends: the summary as a person reads it (or as
one JSON object), the warnings, what became of --delete, and how to continue."""

from __future__ import annotations

import json
from typing import Any

from pipeline.naming import printable
from pipeline.options import UploadConfig
from pipeline.summary import Summary


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


def warnings(summary: Summary, config: UploadConfig) -> list[str]:
    """What the run's counts warn of (each a line after 'warning: ')."""
    lines = []
    if summary.resume_records_elsewhere:
        lines.append(
            f"--resume: {summary.resume_records_elsewhere} records ignored: they name "
            f"another bucket or endpoint than s3://{config.target.bucket} at "
            f"{config.target.endpoint.url} (or none, as reports of earlier versions do)"
        )
    if summary.compared_by_mtime:
        lines.append(
            f"{summary.compared_by_mtime} objects have an ETag that is no MD5 (SSE-KMS, "
            "SSE-C or the server's own) and no stored checksum: they were compared with "
            "their files by size and mtime"
        )
    return lines


def deletions_withheld(summary: Summary, config: UploadConfig) -> str:
    """Why --delete deleted nothing of what it planned, or ''."""
    if not summary.deletes_withheld:
        return ""
    planned = f"{summary.deletes_planned} objects that no file maps to"
    if summary.walk_incomplete:
        return (
            f"--delete: nothing deleted ({planned}): {summary.walk_incomplete} directories, "
            "archives or listings could not be read, so what belongs under the prefix is "
            "not known"
        )
    guard = f"more than --max-delete {config.decision.max_delete}"
    if config.decision.dry_run:
        return f"--delete: a run would delete nothing: {planned}, {guard}"
    return f"--delete: nothing deleted: {planned}, {guard} (--dry-run lists them)"


def deletions_interrupted(summary: Summary) -> str:
    """What an interrupt left of --delete's work: the batches sent before it were made,
    none after it (nor any when it came before the walk was whole)."""
    if not summary.deleted:
        return "--delete: interrupted: no object was deleted"
    return (
        f"--delete: interrupted after deleting {summary.deleted} of the objects that no "
        f"file maps to; {summary.deletes_withheld} more were not deleted"
    )


def how_to_continue(record: str | None, walk_stopped: bool = False) -> str:
    """The line that ends an interrupted run: how to finish the job (``record``: the
    run's --report or --resume)."""
    unseen = "the walk was stopped, so files it had not found yet are not counted. "
    unseen = unseen if walk_stopped else ""
    return f"Interrupted: {unseen}To continue, {run_again(record)}."


def run_again(record: str | None) -> str:
    """How to finish what a run left undone (``record``: its --report or --resume)."""
    if record:
        return f"run the same command with --resume {record} (what it records done is skipped)"
    return "run the same command again to finish (what is already in the bucket is skipped)"


def worker_lost(cause: str, record: str | None) -> str:
    """The line that ends a run whose job failed because a worker was lost."""
    return (
        f"{cause}; the files the job had not finished are not uploaded. To continue, "
        f"{run_again(record)}. With a restart strategy on the cluster (see the README, "
        "Running on a cluster) the runner restarts the job instead"
    )
