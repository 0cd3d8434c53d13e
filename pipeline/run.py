"""Running the pipeline: Beam options, a pinned offline runner, the counts back, Ctrl-C.

The run's counts come back through Beam metrics (the job result), so they are right on
every runner, wherever its workers write. The summary file (under ``--temp_location``,
or a local temporary directory) adds the list of the first failures when the client can
read it. A remote job is cancelled when the client is interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from typing import Any

from pipeline import interrupt, progress
from pipeline.counters import METRICS_NAMESPACE
from pipeline.errors import UsageError
from pipeline.options import TargetOptions, UploadConfig
from pipeline.results import Summary, failures_noted

_LOGGER = logging.getLogger(__name__)

# Beam's default may pick the Prism runner and download it; this one runs offline.
DEFAULT_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
_IN_PROCESS_RUNNERS = {"fnapirunner", "directrunner", "switchingdirectrunner"}
# Runners whose job result carries the Beam counters that the summary is made of.
_METRICS_RUNNERS = _IN_PROCESS_RUNNERS | {
    "bundlebaseddirectrunner", "portablerunner", "flinkrunner", "sparkrunner",
    "dataflowrunner", "prismrunner", "testdirectrunner",
}  # fmt: skip
_SENTINEL = "sources"  # counted once per SOURCE: present in every run that reports metrics
_CANCEL_WAIT_S = 60.0
_POLL_S = 0.25
_PROGRESS_POLL_S = 2.0


class RunFailed(Exception):
    """The job failed as a whole (not one file): the runner's words."""


def pipeline_options(beam_options: dict[str, Any]) -> Any:
    from apache_beam.options.pipeline_options import (
        PipelineOptions,
        SetupOptions,
        StandardOptions,
    )

    options = PipelineOptions.from_dictionary(beam_options)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    options.view_as(SetupOptions).save_main_session = False
    return options


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


def _runner_name(options: Any) -> str:
    from apache_beam.options.pipeline_options import StandardOptions

    return str(options.view_as(StandardOptions).runner).rsplit(".", 1)[-1].lower()


def is_local(options: Any) -> bool:
    """The job runs on this machine (in this process, or processes it starts)."""
    return _runner_name(options) in _IN_PROCESS_RUNNERS


def _other_processes(options: Any) -> bool:
    from apache_beam.options.pipeline_options import DirectOptions

    return bool(options.view_as(DirectOptions).direct_running_mode == "multi_processing")


def spreads_work(options: Any) -> bool:
    """False only for the local runner with one worker in this process (it streams)."""
    from apache_beam.options.pipeline_options import DirectOptions

    workers = options.view_as(DirectOptions).direct_num_workers or 1
    return not is_local(options) or workers > 1 or _other_processes(options)


def works_here(options: Any) -> bool:
    """The workers are threads of this process, so what they print (per-file lines,
    failures as they happen) reaches this process's output; not on a cluster, nor with
    the local runner's ``multi_processing``, whose workers are other processes."""
    return is_local(options) and not _other_processes(options)


def temp_location(options: Any) -> str | None:
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    location: str | None = options.view_as(GoogleCloudOptions).temp_location
    return location


def check_counts_reachable(options: Any) -> None:
    """Refuse, before anything is uploaded, a run whose counts could not come back."""
    if _runner_name(options) not in _METRICS_RUNNERS and not temp_location(options):
        raise UsageError(
            f"--runner {_runner_name(options)} may not report Beam metrics back: pass "
            "--temp_location on a path that the workers and this machine share"
        )


def _summary_location(options: Any) -> tuple[str, str | None]:
    """Where the pipeline writes its summary: under --temp_location, else a local dir."""
    from apache_beam.io.filesystems import FileSystems

    remote = temp_location(options)
    name = f"s3-parallel-put-summary-{uuid.uuid4().hex}.json"
    if remote:
        return FileSystems.join(remote, name), None
    local_dir = tempfile.mkdtemp(prefix="s3pp-")
    return os.path.join(local_dir, name), local_dir


def _counters(result: Any, metrics: Any = None) -> dict[str, int] | None:
    """Our Beam counters from the job result, or None when the runner reported none."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        metrics = metrics or result.metrics()
        found = metrics.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception as e:  # any runner's failure to answer means "no metrics"
        _LOGGER.warning("the runner returned no metrics: %s", e)
        return None
    counters: dict[str, int] = {}
    for metric in found.get("counters", []):
        value = metric.committed if metric.committed is not None else metric.attempted
        counters[metric.key.metric.name] = counters.get(metric.key.metric.name, 0) + int(value)
    return counters if _SENTINEL in counters else None


def _live_counters(result: Any) -> dict[str, int] | None:
    """The counters of a running portable job so far (the result caches its first answer,
    so ask the job service afresh), or None where the runner does not say."""
    service, job_id = getattr(result, "_job_service", None), getattr(result, "_job_id", None)
    if service is None or job_id is None:
        return None
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability.portable_runner import PortableMetrics

    try:
        answer = service.GetJobMetrics(beam_job_api_pb2.GetJobMetricsRequest(job_id=job_id))
    except Exception:  # a job service that cannot answer yet: no progress this time
        return None
    return _counters(result, PortableMetrics(answer))


def _cancel(result: Any, flink_master: str | None) -> None:
    """Cancel a remote job: through Beam's job service, and on Flink (``flink_master``)
    through its REST API (the job service alone leaves the Flink job running)."""
    print("s3-parallel-put: interrupted: cancelling the job", file=sys.stderr, flush=True)
    try:
        result.cancel()
    except Exception as e:  # a job service that is gone already: Flink is asked below
        _LOGGER.warning("the job service did not cancel the job: %s", e)
    job_id = getattr(result, "_job_id", None)
    if flink_master and job_id:
        from pipeline.flink_rest import cancel_job

        if not cancel_job(flink_master, job_id, _CANCEL_WAIT_S):
            _LOGGER.warning("the Flink job may still be running: cancel it in the Flink UI")


def _flink_master(options: Any) -> str | None:
    """The Flink cluster's REST address, for a FlinkRunner job on a real cluster."""
    from apache_beam.options.pipeline_options import FlinkRunnerOptions

    master: str | None = options.view_as(FlinkRunnerOptions).flink_master
    if _runner_name(options) != "flinkrunner" or not master or master.startswith("["):
        return None  # not Flink, or Beam's own embedded [local]/[auto] cluster
    return master


def _wait(result: Any, run_id: str, flink_master: str | None) -> None:
    """Wait for a job that runs elsewhere, showing its progress from the job's metrics;
    cancel it on Ctrl-C or SIGTERM."""
    failure: list[BaseException] = []

    def wait() -> None:
        try:
            result.wait_until_finish()
        except Exception as e:  # handed to the main thread
            failure.append(e)

    waiter = threading.Thread(target=wait, name="s3pp-wait", daemon=True)
    waiter.start()
    polled = time.monotonic()
    while waiter.is_alive():
        waiter.join(_POLL_S)
        bar = progress.for_run(run_id)
        if bar is not None and time.monotonic() - polled >= _PROGRESS_POLL_S:
            polled = time.monotonic()
            counters = _live_counters(result)
            if counters is not None:
                bar.show_counts(counters)
            job_id = getattr(result, "_job_id", None)
            if flink_master and job_id:
                from pipeline.flink_rest import task_progress

                tasks = task_progress(flink_master, job_id)
                if tasks is not None:
                    bar.show_stage(f"Flink tasks {tasks[0]}/{tasks[1]} done")
        if interrupt.requested():
            _cancel(result, flink_master)
            waiter.join(_CANCEL_WAIT_S)
            raise RunFailed("the job was cancelled")
    if failure:
        raise RunFailed(str(failure[0]).splitlines()[0]) from failure[0]


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
    config: UploadConfig, beam_options: dict[str, Any], resume_files: tuple[str, ...] = ()
) -> Summary:
    """Build and run the pipeline; return the run's summary."""
    options = pipeline_options(beam_options)
    check_counts_reachable(options)
    _point_beam_s3_at(options, config.target)
    # Read before the pipeline is built: Beam clears the runner option when it does.
    local, spread, flink_master = is_local(options), spreads_work(options), _flink_master(options)
    # Streamed in this process, the run's first failures are noted here as they happen;
    # elsewhere the pipeline writes them to a summary file.
    summary_path, local_dir = _summary_location(options) if spread else (None, None)

    def remove_local_dir() -> None:
        if local_dir is not None:
            shutil.rmtree(local_dir, ignore_errors=True)

    with interrupt.on_force(remove_local_dir):
        try:
            result = _run_job(config, options, summary_path, resume_files, spread, local,
                              flink_master)  # fmt: skip
            counters = _counters(result)
            bar = progress.for_run(config.output.run_id)
            if bar is not None and counters is not None and not local:
                bar.show_counts(counters)
            written = _read_summary(summary_path) if summary_path else None
        finally:
            remove_local_dir()
        noted = failures_noted(config.output.run_id)
    if counters is not None:
        return Summary.from_counters(counters, written.failures if written else noted)
    if written is not None:
        return written
    raise RunFailed(
        "the runner reported no counts and the run's summary cannot be read here: "
        "pass --temp_location on a path that the workers and this machine share"
    )


def _run_job(
    config: UploadConfig,
    options: Any,
    summary_path: str | None,
    resume_files: tuple[str, ...],
    spread: bool,
    local: bool,
    flink_master: str | None,
) -> Any:
    """Run the pipeline to its end; its result. A remote job is cancelled on Ctrl-C."""
    import apache_beam as beam

    from pipeline.graph import UploadTree

    p = beam.Pipeline(options=options)
    _ = p | "UploadTree" >> UploadTree(config, summary_path, spread, resume_files)
    bar = progress.for_run(config.output.run_id)
    if bar is not None and not local:
        bar.show_stage("submitting the job")
    started = time.time()
    beam_temp = getattr(p, "local_tempdir", None)  # Beam's own, removed when run() ends

    def remove_beam_temp() -> None:
        if beam_temp:
            shutil.rmtree(beam_temp, ignore_errors=True)

    try:
        with interrupt.on_force(remove_beam_temp):
            result = p.run()
            if local:
                result.wait_until_finish()
            else:
                _wait(result, config.output.run_id, flink_master)
    except RunFailed:
        raise
    except Exception as e:  # the runner's error, said in one line
        raise RunFailed(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
    finally:
        if interrupt.requested() and not local:
            abort_open_uploads(config, started)
    return result


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
