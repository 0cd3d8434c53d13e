"""A report's lines: one JSON object per finished file, and reading them back.

Each finished file appends one line, flushed at once, so a run killed at any moment
leaves a report of everything it finished. ``--resume`` reads such a report and skips
files recorded as uploaded or rightly skipped whose size and mtime are unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from pipeline.records import Action, FileResult, LocalFile
from pipeline.s3uri import is_s3

if TYPE_CHECKING:
    from pipeline.options import TargetOptions
    from pipeline.transport.control import Control

_LOGGER = logging.getLogger(__name__)
_DONE_ACTIONS = {Action.UPLOADED.value, Action.SKIPPED.value}


def report_line(result: FileResult, worker: str = "", target: TargetOptions | None = None) -> str:
    """One JSON object; undecodable name bytes survive as \\udcXX escapes.

    ``worker`` names the host and process that handled the file; ``target`` the bucket
    and endpoint of the key (what --resume checks a record against).
    """
    record: dict[str, Any] = {
        "source": result.path,
        **({"bucket": target.bucket, "endpoint": target.endpoint.url} if target else {}),
        "key": result.key,
        "action": result.action.value,
        "reason": result.reason,
        "size": result.size,
        "mtime": result.mtime,
        "bytes_sent": result.bytes_sent,
        "etag": result.etag,
        "seconds": round(result.seconds, 6),
        "retries": result.retries,
        "error": result.error,
    }
    if worker:
        record["worker"] = worker
    return json.dumps(record) + "\n"


DoneRecord = tuple[str, str, int, float]  # (key, source, size, mtime) of a file recorded done


def parse_done(line: str) -> tuple[DoneRecord, tuple[str, str]] | None:
    """The record of a report line that says a file was done, with the bucket and the
    endpoint it names (('', '') for none, as in reports of earlier versions); else None."""
    try:
        record = json.loads(line)
        if record["action"] not in _DONE_ACTIONS:
            return None
        done = (record["key"], record["source"], int(record["size"]), float(record["mtime"]))
        return done, (str(record.get("bucket", "")), str(record.get("endpoint", "")))
    except (ValueError, KeyError, TypeError):
        return None


def is_recorded_done(file: LocalFile, done: dict[str, tuple[str, int, float]]) -> bool:
    return done.get(file.key) == (file.path, file.size, file.mtime)


@contextlib.contextmanager
def open_text(uri: str, control: Control | None = None) -> Iterator[IO[str]]:
    """A report file (local or s3://) for reading, line by line."""
    if is_s3(uri):
        assert control is not None
        with control.read_text(uri) as f:
            yield f
    else:
        with open(uri, encoding="utf-8", errors="surrogateescape") as f:
            yield f
