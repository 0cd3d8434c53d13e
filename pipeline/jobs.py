"""A running job: wait for it while telling an observer, cancel it, read its counts.

``start_job`` runs a built pipeline and returns the ``Job`` that fits the plan's runner:

- ``InProcessJob``: the local runner; its steps tell the observer themselves, and
  Ctrl-C reaches them through it.
- ``PortableJob``: a job service runs it elsewhere; while it runs, its Beam counters
  are asked for afresh and shown, and Ctrl-C cancels it.
- ``FlinkJob``: a portable job on a Flink cluster, which also shows Flink's task
  progress and is cancelled through Flink's REST API too (the job service alone leaves
  the Flink job running).

A job that fails because a worker was lost (a Flink TaskManager that died, say) raises
``WorkerLost``, a ``RunFailed`` that the command line turns into how to continue.

Beam's job API beyond ``PipelineResult`` (the job service, the job id, the pipeline's
local temporary directory) and Flink's REST API are used here and nowhere else, but for
the options sent to the job service (``pipeline.runner_options``).
"""

from __future__ import annotations

import logging
import re
import shutil
import sys
import threading
import time
from typing import Any

from pipeline import interrupt
from pipeline.counters import METRICS_NAMESPACE
from pipeline.errors import UsageError
from pipeline.observer import RunObserver
from pipeline.plan import RunPlan

_LOGGER = logging.getLogger(__name__)
_SENTINEL = "sources"  # counted once per SOURCE: present in every run that reports metrics
_CANCEL_WAIT_S = 60.0
_POLL_S = 0.25
_PROGRESS_POLL_S = 2.0


class RunFailed(Exception):
    """The job failed as a whole (not one file): the runner's words."""


class WorkerLost(RunFailed):
    """The job failed because a worker went away while it ran (its runner's words are
    the cause); the files it had not finished were not uploaded."""


# How Flink (1.19) says, in the words a failed job ends with, that a TaskManager went
# away: its peers lost their connection to it, its heartbeats stopped, or it was gone
# when the job master asked for it.
_WORKER_LOST = (
    "connection unexpectedly closed by remote task manager",
    "remote task manager was lost",
    "lost connection to task manager",
    "heartbeat of taskmanager with id",
    "is no longer reachable",
)


def counters_of(metrics: Any) -> dict[str, int] | None:
    """Our Beam counters from a job's metrics, or None when the runner reported none."""
    from apache_beam.metrics.metric import MetricsFilter

    try:
        found = metrics.query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    except Exception as e:  # any runner's failure to answer means "no metrics"
        _LOGGER.warning("the runner returned no metrics: %s", e)
        return None
    counters: dict[str, int] = {}
    for metric in found.get("counters", []):
        value = metric.committed if metric.committed is not None else metric.attempted
        counters[metric.key.metric.name] = counters.get(metric.key.metric.name, 0) + int(value)
    return counters if _SENTINEL in counters else None


class Job:
    """A job started by ``start_job``."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def wait(self, observer: RunObserver) -> None:
        """Until the job ends; RunFailed if it failed or was cancelled."""
        try:
            self._result.wait_until_finish()
        except Exception as e:  # the runner's error, said in one line
            raise failure_of(e) from e

    def counters(self) -> dict[str, int] | None:
        """The job's counters once it has ended (None: the runner reported none)."""
        try:
            metrics = self._result.metrics()
        except Exception as e:  # any runner's failure to answer means "no metrics"
            _LOGGER.warning("the runner returned no metrics: %s", e)
            return None
        return counters_of(metrics)

    def failed_over(self) -> bool:
        """Whether the runner restarted the job after a failure (a worker lost): the
        workers it lost may have left multipart uploads open."""
        return False

    def cancel(self) -> None:
        try:
            self._result.cancel()
        except Exception as e:  # a job service that is gone already
            _LOGGER.warning("the job service did not cancel the job: %s", e)


class InProcessJob(Job):
    """The local runner: the job has run to its end by the time ``run`` returns."""


class PortableJob(Job):
    """A job that runs elsewhere: waited for on a thread, its counts shown as they come,
    cancelled on Ctrl-C or SIGTERM."""

    def wait(self, observer: RunObserver) -> None:
        failure: list[BaseException] = []

        def wait() -> None:
            try:
                self._result.wait_until_finish()
            except Exception as e:  # handed to the waiting thread
                failure.append(e)

        waiter = threading.Thread(target=wait, name="s3pp-wait", daemon=True)
        waiter.start()
        polled = time.monotonic()
        while waiter.is_alive():
            waiter.join(_POLL_S)
            if time.monotonic() - polled >= _PROGRESS_POLL_S:
                polled = time.monotonic()
                self.show_progress(observer)
            if observer.stop_requested():
                print(
                    "s3-parallel-put: interrupted: cancelling the job", file=sys.stderr, flush=True
                )
                self.cancel()
                waiter.join(_CANCEL_WAIT_S)
                raise RunFailed("the job was cancelled")
        if failure:
            raise failure_of(failure[0]) from failure[0]

    def live_counters(self) -> dict[str, int] | None:
        """The counters so far (the result caches its first answer, so the job service
        is asked afresh), or None where the runner does not say."""
        service = getattr(self._result, "_job_service", None)
        job_id = self.job_id()
        if service is None or job_id is None:
            return None
        from apache_beam.portability.api import beam_job_api_pb2
        from apache_beam.runners.portability.portable_runner import PortableMetrics

        try:
            answer = service.GetJobMetrics(beam_job_api_pb2.GetJobMetricsRequest(job_id=job_id))
        except Exception:  # a job service that cannot answer yet: no progress this time
            return None
        return counters_of(PortableMetrics(answer))

    def job_id(self) -> str | None:
        job_id: str | None = getattr(self._result, "_job_id", None)
        return job_id

    def show_progress(self, observer: RunObserver) -> None:
        counters = self.live_counters()
        if counters is not None:
            observer.job_counts(counters)


class FlinkJob(PortableJob):
    """A portable job on a Flink cluster, whose REST API is at ``master``."""

    def __init__(self, result: Any, master: str) -> None:
        super().__init__(result)
        self._master = master

    def show_progress(self, observer: RunObserver) -> None:
        super().show_progress(observer)
        job_id = self.job_id()
        if job_id is None:
            return
        from pipeline.flink_rest import task_progress

        tasks = task_progress(self._master, job_id)
        if tasks is not None:
            observer.job_stage(f"Flink tasks {tasks[0]}/{tasks[1]} done")

    def failed_over(self) -> bool:
        job_id = self.job_id()
        if job_id is None:
            return False
        from pipeline.flink_rest import failed_over

        return failed_over(self._master, job_id)

    def cancel(self) -> None:
        super().cancel()
        job_id = self.job_id()
        if job_id is None:
            return
        from pipeline.flink_rest import cancel_job

        if not cancel_job(self._master, job_id, _CANCEL_WAIT_S):
            _LOGGER.warning("the Flink job may still be running: cancel it in the Flink UI")


def failure_of(error: BaseException) -> RunFailed:
    """The runner's error as the run's failure, in one line: ``WorkerLost`` when it says
    that a worker went away."""
    text = str(error)
    line = text.splitlines()[0] if text else type(error).__name__
    if any(sign in text.lower() for sign in _WORKER_LOST):
        return WorkerLost(f"the job failed because a worker was lost ({_cause(line)})")
    return RunFailed(line)


def _cause(line: str) -> str:
    """The runner's first sentence, without Beam's preamble ('Pipeline ID failed in
    state FAILED: ') and the Java exception's class name."""
    cause = line.split(" failed in state FAILED: ", 1)[-1]
    cause = re.sub(r"^(?:[\w$]+\.)+[\w$]*(?:Exception|Error): ", "", cause)
    return cause.split(". ", 1)[0].rstrip(". ")


def start_job(pipeline: Any, plan: RunPlan) -> Job:
    """Run ``pipeline`` as the plan says; the job. Beam's own temporary directory of the
    pipeline is removed if a second Ctrl-C stops the process at once."""
    beam_temp = getattr(pipeline, "local_tempdir", None)  # removed by Beam when run() ends

    def remove_beam_temp() -> None:
        if beam_temp:
            shutil.rmtree(beam_temp, ignore_errors=True)

    with interrupt.on_force(remove_beam_temp):
        try:
            result = pipeline.run()
        except UsageError:  # an option the job service would not get
            raise
        except Exception as e:  # the runner's error, said in one line
            raise failure_of(e) from e
        if plan.local:
            return InProcessJob(result)
        if plan.flink_master is not None:
            return FlinkJob(result, plan.flink_master)
        return PortableJob(result)
