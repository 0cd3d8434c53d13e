"""The per-file report (JSON lines) and resuming from one.

Each finished file appends one line, flushed at once, so a run killed at any moment
leaves a report of everything it finished. ``--resume`` reads such a report and skips
files recorded as uploaded or rightly skipped whose size and mtime are unchanged.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from pipeline.records import Action, FileResult, LocalFile

_LOGGER = logging.getLogger(__name__)
_DONE_ACTIONS = {Action.UPLOADED.value, Action.SKIPPED.value}


def report_line(result: FileResult) -> str:
    """One JSON object; undecodable name bytes survive as \\udcXX escapes."""
    record: dict[str, Any] = {
        "source": result.path,
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
    return json.dumps(record) + "\n"


def load_done(path: str) -> dict[str, tuple[str, int, float]]:
    """key -> (source, size, mtime) of every file a report records as done."""
    done: dict[str, tuple[str, int, float]] = {}
    if not os.path.exists(path):
        return done
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
                key, action = record["key"], record["action"]
                entry = (record["source"], int(record["size"]), float(record["mtime"]))
            except (ValueError, KeyError, TypeError):
                _LOGGER.warning("%s:%d: not a report line; ignored", path, number)
                continue
            if action in _DONE_ACTIONS:
                done[key] = entry
            else:
                done.pop(key, None)
    return done


def is_recorded_done(file: LocalFile, done: dict[str, tuple[str, int, float]]) -> bool:
    return done.get(file.key) == (file.path, file.size, file.mtime)


def is_remote(uri: str) -> bool:
    return uri.startswith("s3://")


def stage_in(uri: str, local: str, client: Any) -> None:
    """Copy the report at s3:// ``uri`` (if there is one) to ``local``."""
    import smart_open

    try:
        with smart_open.open(uri, "rb", transport_params={"client": client}) as src:
            data = src.read()
    except OSError:
        data = b""  # no report yet
    with open(local, "wb") as dst:
        dst.write(data)


def stage_out(local: str, uri: str, client: Any) -> None:
    """Write the whole local report to s3:// ``uri``."""
    import smart_open

    with (
        open(local, "rb") as src,
        smart_open.open(uri, "wb", transport_params={"client": client}) as dst,
    ):
        dst.write(src.read())
