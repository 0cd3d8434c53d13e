"""Units: how a job's failure is said, in one line, and when it is a lost worker (the
runner's words as Flink 1.19 and Beam 2.62 gave them when a TaskManager was SIGKILLed)."""

from __future__ import annotations

import pytest

from pipeline.jobs import RunFailed, WorkerLost, failure_of
from pipeline.output import worker_lost

_PIPELINE = "Pipeline BeamApp-root-1129180839-122a4c7b_26ea2c14-2a0e-4a78-84ea-b0ab2ae35e14"
# A peer of the lost TaskManager was reading from it.
_PEER_LOST = (
    f"{_PIPELINE} failed in state FAILED: org.apache.flink.runtime.io.network.netty."
    "exception.RemoteTransportException: Connection unexpectedly closed by remote task "
    "manager '10.213.170.12/10.213.170.12:46399 [ 10.213.170.12:33327-056a95 ] '. This "
    "might indicate that the remote task manager was lost.\nCaused by: ..."
)
# The whole job ran on the lost TaskManager: the job master noticed.
_UNREACHABLE = (
    f"{_PIPELINE} failed in state FAILED: org.apache.flink.runtime.jobmaster."
    "JobMasterException: TaskManager with id 10.213.82.13:34031-d20561 is no longer "
    "reachable."
)


@pytest.mark.parametrize(
    ("text", "cause"),
    [
        (
            _PEER_LOST,
            "Connection unexpectedly closed by remote task manager '10.213.170.12/"
            "10.213.170.12:46399 [ 10.213.170.12:33327-056a95 ] '",
        ),
        (_UNREACHABLE, "TaskManager with id 10.213.82.13:34031-d20561 is no longer reachable"),
    ],
    ids=["peer lost", "unreachable"],
)
def test_a_lost_taskmanager_is_a_lost_worker_in_one_line(text: str, cause: str) -> None:
    failure = failure_of(RuntimeError(text))

    assert isinstance(failure, WorkerLost)
    assert str(failure) == f"the job failed because a worker was lost ({cause})"


def test_other_failures_keep_the_runners_first_line() -> None:
    text = (
        f"{_PIPELINE} failed in state FAILED: java.lang.RuntimeException: Error received "
        "from SDK harness for instruction 7: Traceback (most recent call last):\n  ..."
    )
    failure = failure_of(RuntimeError(text))

    assert type(failure) is RunFailed
    assert str(failure) == text.splitlines()[0]


def test_the_lost_worker_line_says_how_to_continue() -> None:
    cause = str(failure_of(RuntimeError(_UNREACHABLE)))

    with_report = worker_lost(cause, "/shared/reports")
    without = worker_lost(cause, None)

    assert "\n" not in with_report
    assert with_report.startswith("the job failed because a worker was lost (TaskManager")
    assert "To continue, run the same command with --resume /shared/reports" in with_report
    assert "restart strategy" in with_report
    assert "To continue, run the same command again to finish" in without
