"""Where a run's report lives while it runs: one local file (an s3:// report is copied in
before and out after), or a directory or s3:// prefix of shards the workers write."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator

from pipeline import interrupt
from pipeline.errors import UsageError
from pipeline.options import RecordOptions, UploadConfig
from pipeline.s3uri import is_s3
from pipeline.transport import open_control
from pipeline.transport.control import Control, S3Error
from pipeline.transport.errors import ErrorKind

_LOGGER = logging.getLogger(__name__)


def sharded(uri: str) -> bool:
    """A report path that names a directory (or s3:// prefix) of shards."""
    return uri.endswith("/") or os.path.isdir(uri)


@contextlib.contextmanager
def records_for_run(
    config: UploadConfig,
    report_uri: str | None,
    resume_uri: str | None,
    local: bool,
    late_errors: list[str],
) -> Iterator[tuple[UploadConfig, tuple[str, ...]]]:
    """The config with where the report goes, and the report files to resume from.

    On a local runner a report is one file; an s3:// one is copied in and out. On a
    distributed runner (or when PATH is a directory) the report is a directory or s3://
    prefix of shards that the workers write themselves. What cannot be written out at
    the end is added to ``late_errors``.
    """
    report_uri = report_uri or resume_uri
    with contextlib.ExitStack() as stack:
        control = None
        if any(uri and is_s3(uri) for uri in (report_uri, resume_uri)):
            control = open_control(config.target, config.transport)
            stack.callback(control.close)
        if report_uri is not None and (not local or sharded(report_uri)):
            yield _shards(config, report_uri, resume_uri, control)
        else:
            yield from _one_file(config, report_uri, resume_uri, control, late_errors)


def _resumed(uri: str, files: tuple[str, ...]) -> tuple[str, ...]:
    """``files``, the report files found at ``uri``; none says so in one warning."""
    if not files:
        _LOGGER.warning("--resume %s: no report there yet: the run starts fresh", uri)
    return files


def _shards(
    config: UploadConfig, report_uri: str, resume_uri: str | None, control: Control | None
) -> tuple[UploadConfig, tuple[str, ...]]:
    from pipeline.report.resume import resume_files

    if not is_s3(report_uri) and os.path.isfile(report_uri):
        raise UsageError(
            f"--report {report_uri!r} is a file; on a distributed runner the report is "
            "a directory of shards (or an s3:// prefix): name a directory"
        )
    resumed = _resumed(resume_uri, resume_files(resume_uri, control)) if resume_uri else ()
    records = RecordOptions(report_path=report_uri, report_shards=True)
    return dataclasses.replace(config, records=records), resumed


def _one_file(
    config: UploadConfig,
    report_uri: str | None,
    resume_uri: str | None,
    control: Control | None,
    late_errors: list[str],
) -> Iterator[tuple[UploadConfig, tuple[str, ...]]]:
    from pipeline.report.resume import resume_files

    with tempfile.TemporaryDirectory(prefix="s3pp-report-") as tmp:
        resume_local = resume_uri
        if resume_uri and is_s3(resume_uri):
            assert control is not None
            resume_local = os.path.join(tmp, "resume.jsonl")
            if not stage_in(resume_uri, resume_local, control):
                _resumed(resume_uri, ())
        report_local = report_uri
        if report_uri and report_uri == resume_uri:
            report_local = resume_local
        elif report_uri and is_s3(report_uri):
            report_local = os.path.join(tmp, "report.jsonl")

        def write_out() -> None:
            if report_uri and report_local and is_s3(report_uri):
                assert control is not None
                try:
                    stage_out(report_local, report_uri, control)
                except (OSError, ValueError, S3Error) as e:
                    late_errors.append(f"cannot write the report to {report_uri}: {e}")

        def write_out_and_clean() -> None:  # a second Ctrl-C skips the with's own cleanup
            write_out()
            shutil.rmtree(tmp, ignore_errors=True)

        with interrupt.on_force(write_out_and_clean):
            try:
                resumed: tuple[str, ...] = ()
                if resume_uri and resume_local:
                    resumed = resume_files(resume_local, control)
                    if not is_s3(resume_uri):
                        _resumed(resume_uri, resumed)
                records = RecordOptions(report_path=report_local)
                yield dataclasses.replace(config, records=records), resumed
            finally:
                write_out()


def stage_in(uri: str, local: str, control: Control) -> bool:
    """Copy the report at s3:// ``uri`` (if there is one) to ``local``; False when there
    is none yet (``local`` is then empty).

    Only a missing report is "no report yet"; one that is there but cannot be read stops
    the run (exit 2), so that it is never written over with this run's lines alone.
    """
    try:
        with control.read(uri) as src, open(local, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except S3Error as e:
        if e.kind is not ErrorKind.NOT_FOUND:
            raise UsageError(f"cannot read the report {uri}: {e}") from e
        open(local, "wb").close()  # no report yet
        return False
    return True


def stage_out(local: str, uri: str, control: Control) -> None:
    """Write the whole local report to s3:// ``uri``."""
    with open(local, "rb") as src, control.write(uri) as dst:
        shutil.copyfileobj(src, dst)
