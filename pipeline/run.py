"""Running the pipeline of a plan: build it, start its job, wait, the summary back.

The run's counts come back through Beam metrics (the job result), so they are right on
every runner, wherever its workers write. Where work is spread, the pipeline also
writes a summary file (under ``--temp_location``, or a local temporary directory) that
lists the first failures, when the client can read it; where the run streams in this
process, its observer hears of the failures as they happen. A remote job is cancelled
when the client is interrupted; when it is cancelled, fails, or was restarted after a
worker was lost, the multipart uploads its workers left open under the prefix are
aborted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

import apache_beam as beam

from pipeline import interrupt
from pipeline.errors import UsageError
from pipeline.graph import UploadTree
from pipeline.jobs import RunFailed, WorkerLost, start_job
from pipeline.observer import SILENT, RunObserver
from pipeline.options import TargetOptions, UploadConfig
from pipeline.plan import RunPlan
from pipeline.relay import relayed
from pipeline.runner_options import refuse_dropped_options
from pipeline.summary import Summary

_LOGGER = logging.getLogger(__name__)

__all__ = ["RunFailed", "WorkerLost", "abort_open_uploads", "run_pipeline"]


def _point_beam_s3_at(options: Any, target: TargetOptions) -> None:
    """Beam's own s3:// filesystem (the text source of --files-from) reads from the run's
    endpoint, region and CA bundle, unless Beam's --s3_* options say otherwise; its
    credentials come from the standard AWS chain on each worker."""
    from apache_beam.options.pipeline_options import S3Options

    s3 = options.view_as(S3Options)
    if s3.s3_endpoint_url is None:
        s3.s3_endpoint_url = target.endpoint.url
    if s3.s3_region_name is None:
        s3.s3_region_name = target.endpoint.region
    if s3.s3_verify is None and target.ca_bundle is not None:
        s3.s3_verify = target.ca_bundle


def _summary_location(plan: RunPlan) -> tuple[str, str | None]:
    """Where the pipeline writes its summary: under --temp_location, else a local dir."""
    from apache_beam.io.filesystems import FileSystems

    name = f"s3-parallel-put-summary-{uuid.uuid4().hex}.json"
    if plan.temp_location:
        return FileSystems.join(plan.temp_location, name), None
    local_dir = tempfile.mkdtemp(prefix="s3pp-")
    return os.path.join(local_dir, name), local_dir


def _read_summary(path: str) -> Summary | None:
    from apache_beam.io.filesystems import FileSystems

    try:
        if not FileSystems.exists(path):
            return None
        with FileSystems.open(path) as f:
            data = json.loads(f.read().decode("utf-8"))
        FileSystems.delete([path])
    except (OSError, ValueError) as e:
        _LOGGER.warning("cannot read the run's summary at %s: %s", path, e)
        return None
    return Summary.from_dict(data)


def run_pipeline(
    config: UploadConfig,
    plan: RunPlan,
    resume_files: tuple[str, ...] = (),
    observer: RunObserver = SILENT,
) -> Summary:
    """Build and run the pipeline; the run's summary (its failures listed when the
    pipeline wrote them: where the run streams here, the observer heard of them)."""
    plan.check_counts_reachable()
    _point_beam_s3_at(plan.options, config.target)
    # Streamed in this process, the observer hears of every result as it happens;
    # elsewhere the pipeline writes the first failures to a summary file.
    summary_path, local_dir = _summary_location(plan) if plan.spread else (None, None)

    def remove_local_dir() -> None:
        if local_dir is not None:
            shutil.rmtree(local_dir, ignore_errors=True)

    with interrupt.on_force(remove_local_dir):
        try:
            with relayed(plan, observer) as job_observer:
                counters = _run_job(config, plan, summary_path, resume_files, job_observer)
            if counters is not None and not plan.works_here:
                observer.job_counts(counters)
            written = _read_summary(summary_path) if summary_path else None
        finally:
            remove_local_dir()
    if counters is not None:
        return Summary.from_counters(counters, written.failures if written else [])
    if written is not None:
        return written
    raise RunFailed(
        "the runner reported no counts and the run's summary cannot be read here: "
        "pass --temp_location on a path that the workers and this machine share"
    )


def _run_job(
    config: UploadConfig,
    plan: RunPlan,
    summary_path: str | None,
    resume_files: tuple[str, ...],
    observer: RunObserver,
) -> dict[str, int] | None:
    """Run the pipeline to its end; its counters. A remote job is cancelled on Ctrl-C,
    and the multipart uploads its workers left open are aborted."""
    p = beam.Pipeline(options=plan.options)
    if not plan.local:
        refuse_dropped_options(p.runner)
    _ = p | "UploadTree" >> UploadTree(
        config, summary_path, plan.spread, resume_files, observer=observer
    )
    if not plan.local:
        observer.job_stage("submitting the job")
    started = time.time()
    left_open = True  # what a remote job's workers may leave, unless it ends whole
    try:
        try:
            job = start_job(p, plan)
        except UsageError:  # refused before anything was submitted
            left_open = False
            raise
        job.wait(observer)
        counters = job.counters()
        left_open = job.failed_over()
        return counters
    finally:
        # A remote job that failed, was cancelled, or was restarted after a worker was
        # lost leaves the multipart uploads of the workers it stopped or lost open.
        if left_open and not plan.local:
            abort_open_uploads(config, started)


def abort_open_uploads(config: UploadConfig, since: float) -> None:
    """Abort the multipart uploads that this run's workers left open under the prefix
    (after a remote job is cancelled, or when a second Ctrl-C stops at once)."""
    if config.decision.dry_run:
        return
    from pipeline.orphans import abort_uploads_under
    from pipeline.transport import open_control

    control = open_control(config.target, config.transport)
    try:
        abort_uploads_under(control, config.target.bucket, config.target.prefix, since)
    finally:
        control.close()
