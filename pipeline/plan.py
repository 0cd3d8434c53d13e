"""The run plan: how and where one run goes, made once from Beam's options.

``make_plan`` reads the runner and its options once; every later step (the checks
before the run, the pipeline's shape, the job, what the command line prints) reads the
plan instead of asking Beam's options again.

- ``RunnerKind``: the job runs in this process, in processes the local runner starts,
  on a portable job service, on a Flink cluster, or elsewhere (``runner_kind``, which
  the command line's parser asks too: options that neither this tool nor Beam knows
  go on to a runner that is not local).
- ``ReportPlace`` (``pipeline.report.place``): where the report goes (one file, shards,
  s3://) and the report resumed from.
- ``Topology``: how work is laid out over the workers. On the one in-process worker
  every file streams through one fused stage (``STREAMED``); elsewhere directory shards
  are spread (``SPREAD``), except under ``--limit``, where one worker walks in order and
  only the uploads are spread (``ORDERED``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pipeline.errors import UsageError
from pipeline.report.place import ReportPlace, report_place

# Beam's default may pick the Prism runner and download it; this one runs offline.
DEFAULT_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
_IN_PROCESS_RUNNERS = {
    "fnapirunner", "directrunner", "switchingdirectrunner", "testdirectrunner",
    "bundlebaseddirectrunner",
}  # fmt: skip
# Runners whose job result carries the Beam counters that the summary is made of.
_METRICS_RUNNERS = _IN_PROCESS_RUNNERS | {
    "portablerunner", "flinkrunner", "sparkrunner", "dataflowrunner", "prismrunner",
}  # fmt: skip


class RunnerKind(enum.Enum):
    IN_PROCESS = "in this process"
    LOCAL_PROCESSES = "in worker processes on this machine"
    PORTABLE = "on a portable job service"
    FLINK = "on a Flink cluster"
    OTHER = "on a remote runner"

    @property
    def local(self) -> bool:
        """The job runs on this machine, in this process or processes it starts; any
        other runner (a job service, a cluster) takes the options that Beam's Python SDK
        does not know and hands them to its own side (Flink's, Spark's, Dataflow's)."""
        return self in (RunnerKind.IN_PROCESS, RunnerKind.LOCAL_PROCESSES)


def runner_name(runner: str | None) -> str:
    """``--runner`` as Beam names it, lower case ('fnapirunner', 'flinkrunner'); the
    default local runner when none is given."""
    return str(runner or DEFAULT_RUNNER).rsplit(".", 1)[-1].lower()


def runner_kind(
    runner: str | None, running_mode: str | None = None, flink_master: str | None = None
) -> RunnerKind:
    """Where a job of ``--runner`` runs, with Beam's ``--direct_running_mode`` and
    ``--flink_master`` (Beam's own embedded ``[local]``/``[auto]`` Flink has no REST API
    here: that is a portable job). A PortableRunner job with a real ``--flink_master`` goes
    to a Flink job server (``--job_endpoint``) that runs it on that cluster."""
    name = runner_name(runner)
    if name in _IN_PROCESS_RUNNERS:
        processes = running_mode == "multi_processing"
        return RunnerKind.LOCAL_PROCESSES if processes else RunnerKind.IN_PROCESS
    real_master = flink_master and not flink_master.startswith("[")
    if name in ("flinkrunner", "portablerunner") and real_master:
        return RunnerKind.FLINK
    if name in ("portablerunner", "flinkrunner", "sparkrunner", "prismrunner"):
        return RunnerKind.PORTABLE
    return RunnerKind.OTHER


class Topology(enum.Enum):
    STREAMED = "every file streams through one stage of one worker"
    SPREAD = "directory shards are spread over the workers"
    ORDERED = "one worker walks in order; the uploads are spread"

    @classmethod
    def of(cls, spread: bool, limit: int | None) -> Topology:
        """``spread``: the runner has several workers; ``limit``: ``--limit``."""
        if not spread:
            return cls.STREAMED
        return cls.SPREAD if limit is None else cls.ORDERED


@dataclass(frozen=True)
class RunPlan:
    """How one run goes. ``options`` is Beam's PipelineOptions, built once."""

    options: Any
    runner: RunnerKind
    runner_name: str  # as Beam names it, lower case: 'fnapirunner', 'flinkrunner'
    spread: bool  # more than one worker: directory shards are spread over them
    temp_location: str | None
    flink_master: str | None = None  # the REST address of a real Flink cluster
    report: ReportPlace | None = None  # where the report goes (--report, --resume)

    @property
    def local(self) -> bool:
        """The job runs on this machine (in this process, or processes it starts)."""
        return self.runner.local

    @property
    def works_here(self) -> bool:
        """The workers are threads of this process: what they tell the run's observer
        (per-file lines, failures as they happen, the bar) reaches this process."""
        return self.runner is RunnerKind.IN_PROCESS

    def check_counts_reachable(self) -> None:
        """Refuse, before anything is uploaded, a run whose counts could not come back."""
        if self.runner_name not in _METRICS_RUNNERS and not self.temp_location:
            raise UsageError(
                f"--runner {self.runner_name} may not report Beam metrics back: pass "
                "--temp_location on a path that the workers and this machine share"
            )


def pipeline_options(beam_options: dict[str, Any]) -> Any:
    """Beam's PipelineOptions of the run: the local runner unless one is chosen, and no
    main session pickled."""
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


def make_plan(
    beam_options: dict[str, Any], report: str | None = None, resume: str | None = None
) -> RunPlan:
    """The plan of a run with these Beam options (as the user set them), ``--report``
    and ``--resume``."""
    from apache_beam.options.pipeline_options import (
        DirectOptions,
        FlinkRunnerOptions,
        GoogleCloudOptions,
        StandardOptions,
    )

    options = pipeline_options(beam_options)
    name = runner_name(options.view_as(StandardOptions).runner)
    direct = options.view_as(DirectOptions)
    master = options.view_as(FlinkRunnerOptions).flink_master
    runner = runner_kind(name, direct.direct_running_mode, master)
    workers = direct.direct_num_workers or 1
    spread = runner is not RunnerKind.IN_PROCESS or workers > 1
    temp: str | None = options.view_as(GoogleCloudOptions).temp_location
    place = report_place(report, resume, runner.local)
    flink_master = master if runner is RunnerKind.FLINK else None
    return RunPlan(options, runner, name, spread, temp, flink_master, place)
