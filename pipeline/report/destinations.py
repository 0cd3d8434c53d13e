"""Where a run writes, checked before the first upload: the report's place (its file or
shards, and the report it resumes from: ``place.ReportPlace``) and Beam's temp location.

A local directory must exist and be writable (a report file's directory, a report
directory or its parent); an ``s3://`` destination's bucket must exist and answer. Each
problem is a UsageError: one line, exit code 2, and nothing uploaded.
"""

from __future__ import annotations

import os

from pipeline.errors import UsageError
from pipeline.preflight import check_bucket
from pipeline.report.place import ReportPlace
from pipeline.s3uri import S3Uri, is_s3
from pipeline.transport.control import Control

_REMOTE_SCHEMES = ("gs://", "hdfs://", "abfs://", "az://")  # Beam's; not checked here


def _check_s3(option: str, uri: str, control: Control, url: str) -> None:
    bucket = S3Uri.parse(uri).bucket
    if len(bucket) < 3:
        raise UsageError(f"{option} {uri!r}: no bucket name")
    try:
        check_bucket(control, bucket, url)
    except UsageError as e:
        raise UsageError(f"{option} {uri!r}: {e}") from e


def _writable_directory(option: str, path: str, directory: str) -> None:
    if not os.path.isdir(directory):
        raise UsageError(f"{option} {path!r}: directory {directory!r} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path!r}: directory {directory!r} is not writable")


def check_writable(option: str, path: str, control: Control, url: str, directory: bool) -> None:
    """``path`` can be written: a file (``directory`` False) or a directory of shards."""
    if is_s3(path):
        _check_s3(option, path, control, url)
        return
    if path.startswith(_REMOTE_SCHEMES):
        return
    if directory and os.path.isdir(path):
        _writable_directory(option, path, path)
        return
    if os.path.isdir(path):
        raise UsageError(f"{option} {path!r} is a directory, not a file")
    if os.path.exists(path) and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path!r} is not writable")
    _writable_directory(option, path, os.path.dirname(os.path.abspath(path)))


def check_readable(option: str, path: str, control: Control, url: str) -> None:
    """A report to resume from is readable, or not there yet (a first run)."""
    if is_s3(path):
        _check_s3(option, path, control, url)
        return
    if os.path.exists(path) and not os.access(path, os.R_OK):
        raise UsageError(f"{option} {path!r} is not readable")
    if not os.path.exists(path):
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise UsageError(f"{option} {path!r}: directory {parent!r} does not exist")


def check_destinations(
    control: Control, url: str, place: ReportPlace | None, temp_location: str | None
) -> None:
    """Every place the run will write (or read its records from) is usable."""
    if place is not None:
        if place.resume is not None:
            check_readable("--resume", place.resume, control, url)
        check_writable(place.option, place.uri, control, url, directory=place.shards)
    if temp_location is not None:
        check_writable("--temp_location", temp_location, control, url, directory=True)
