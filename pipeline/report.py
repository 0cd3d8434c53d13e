"""The per-file report (JSON lines) and resuming from one.

Each finished file appends one line, flushed at once, so a run killed at any moment
leaves a report of everything it finished. ``--resume`` reads such a report and skips
files recorded as uploaded or rightly skipped whose size and mtime are unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from typing import IO, Any

from pipeline.errors import UsageError
from pipeline.records import Action, FileResult, LocalFile

_LOGGER = logging.getLogger(__name__)
_DONE_ACTIONS = {Action.UPLOADED.value, Action.SKIPPED.value}


def report_line(result: FileResult, worker: str = "") -> str:
    """One JSON object; undecodable name bytes survive as \\udcXX escapes.

    ``worker`` names the host and process that handled the file.
    """
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
    if worker:
        record["worker"] = worker
    return json.dumps(record) + "\n"


DoneRecord = tuple[str, str, int, float]  # (key, source, size, mtime) of a file recorded done


def parse_done(line: str) -> DoneRecord | None:
    """The record of a report line that says a file was done, else None."""
    try:
        record = json.loads(line)
        if record["action"] not in _DONE_ACTIONS:
            return None
        return (record["key"], record["source"], int(record["size"]), float(record["mtime"]))
    except (ValueError, KeyError, TypeError):
        return None


def is_recorded_done(file: LocalFile, done: dict[str, tuple[str, int, float]]) -> bool:
    return done.get(file.key) == (file.path, file.size, file.mtime)


def is_remote(uri: str) -> bool:
    return uri.startswith("s3://")


@contextlib.contextmanager
def open_text(uri: str, client: Any = None) -> Iterator[IO[str]]:
    """A report file (local or s3://) for reading, line by line."""
    if is_remote(uri):
        import smart_open

        with smart_open.open(
            uri, "r", encoding="utf-8", errors="surrogateescape",
            transport_params={"client": client},
        ) as f:  # fmt: skip
            yield f
    else:
        with open(uri, encoding="utf-8", errors="surrogateescape") as f:
            yield f


def stage_in(uri: str, local: str, client: Any) -> None:
    """Copy the report at s3:// ``uri`` (if there is one) to ``local``.

    Only a missing report is "no report yet"; one that is there but cannot be read stops
    the run (exit 2), so that it is never written over with this run's lines alone.
    """
    import botocore.exceptions

    bucket, _, key = uri[5:].partition("/")
    try:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except botocore.exceptions.ClientError as e:
        if e.response.get("Error", {}).get("Code") not in ("NoSuchKey", "404"):
            raise UsageError(f"cannot read the report {uri}: {e}") from e
        data = b""  # no report yet
    except botocore.exceptions.BotoCoreError as e:
        raise UsageError(f"cannot read the report {uri}: {e}") from e
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
