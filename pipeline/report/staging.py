"""Where a run's report lives while it runs (``place.ReportPlace`` says where it goes): one
local file (an s3:// report is copied in before and out after), or a directory or s3://
prefix of shards the workers write."""

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
from pipeline.report.place import ReportPlace
from pipeline.s3uri import is_s3
from pipeline.transport import open_control
from pipeline.transport.control import Control, S3Error
from pipeline.transport.errors import ErrorKind

_LOGGER = logging.getLogger(__name__)


@contextlib.contextmanager
def records_for_run(
    config: UploadConfig, place: ReportPlace | None, late_errors: list[str]
) -> Iterator[tuple[UploadConfig, tuple[str, ...]]]:
    """The config with where the workers write the report, and the report files to
    resume from.

    A report of one file is written here, on the local runner; an s3:// one is copied in
    and out. A report of shards (``place.shards``) is a directory or s3:// prefix that
    the workers write themselves. What cannot be written out at the end is added to
    ``late_errors``.
    """
    if place is None:
        yield config, ()
        return
    with contextlib.ExitStack() as stack:
        control = None
        if place.uses_s3:
            control = open_control(config.target, config.transport)
            stack.callback(control.close)
        if place.shards:
            yield _shards(config, place, control)
        else:
            yield from _one_file(config, place, control, late_errors)


def _resumed(uri: str, files: tuple[str, ...]) -> tuple[str, ...]:
    """``files``, the report files found at ``uri``; none says so in one warning."""
    if not files:
        _LOGGER.warning("--resume %s: no report there yet: the run starts fresh", uri)
    return files


def _shards(
    config: UploadConfig, place: ReportPlace, control: Control | None
) -> tuple[UploadConfig, tuple[str, ...]]:
    from pipeline.report.resume import resume_files

    if not place.on_s3 and os.path.isfile(place.uri):
        raise UsageError(
            f"{place.option} {place.uri!r} is a file; on a distributed runner the report is "
            "a directory of shards (or an s3:// prefix): name a directory"
        )
    resume = place.resume
    resumed = _resumed(resume, resume_files(resume, control)) if resume else ()
    records = RecordOptions(report_path=place.uri, report_shards=True)
    return dataclasses.replace(config, records=records), resumed


def _one_file(
    config: UploadConfig, place: ReportPlace, control: Control | None, late_errors: list[str]
) -> Iterator[tuple[UploadConfig, tuple[str, ...]]]:
    from pipeline.report.resume import resume_files

    with tempfile.TemporaryDirectory(prefix="s3pp-report-") as tmp:
        resume = place.resume
        resume_local = resume
        if resume and is_s3(resume):
            assert control is not None
            resume_local = os.path.join(tmp, "resume.jsonl")
            if not stage_in(resume, resume_local, control):
                _resumed(resume, ())
        report_local: str | None = place.uri
        if place.appends_to_resume:
            report_local = resume_local
        elif place.on_s3:
            report_local = os.path.join(tmp, "report.jsonl")

        def write_out() -> None:
            if place.on_s3 and report_local:
                assert control is not None
                try:
                    stage_out(report_local, place.uri, control)
                except (OSError, ValueError, S3Error) as e:
                    late_errors.append(f"cannot write the report to {place.uri}: {e}")

        def write_out_and_clean() -> None:  # a second Ctrl-C skips the with's own cleanup
            write_out()
            shutil.rmtree(tmp, ignore_errors=True)

        with interrupt.on_force(write_out_and_clean):
            try:
                resumed: tuple[str, ...] = ()
                if resume and resume_local:
                    resumed = resume_files(resume_local, control)
                    if not is_s3(resume):
                        _resumed(resume, resumed)
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
