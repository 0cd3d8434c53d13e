"""End to end on a real Flink cluster: a runner's own options reach the Flink job (a slip
in one is refused before anything runs), and a TaskManager killed in the middle of an
upload is survived with a restart strategy, or ends the run in one line that says how to
finish it without one.

Two clusters, one after the other (a test class each), each of two TaskManagers with
two task slots, running jobs with one subtask per TaskManager: when one TaskManager is
lost, the other has the slots to run the job again. The first has the restart strategy
that the README tells users to set (fixed-delay, 3 attempts), the second none. See
``devsupport/flinkcluster.py``; the helpers are ``tests/test_flink_e2e.py``'s.

"In the middle" is made certain, not waited for: the fault proxy in front of the S3
server holds every multipart part upload (so multipart uploads are open), the small
files land, and only once the REST API shows the job running with objects in the
bucket is the TaskManager that runs the uploads killed. From then on the proxy drops
every write unanswered, so that nothing the lost attempt's workers still send can land
late; with a restart strategy, it lets writes through again once Flink shows the
restarted job's uploads running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import Drop, FaultProxy
from devsupport.flinkcluster import BridgeNetwork, FlinkCluster, prepare
from devsupport.locals3 import LocalS3
from tests.conftest import bucket_objects
from tests.test_flink_e2e import (
    BUCKET,
    CLI_TIMEOUT_S,
    FlinkSetup,
    _command,
    _explain,
    _finish,
    _open_uploads,
    _start,
)

pytestmark = pytest.mark.flink

SMALL_FILES, PER_DIRECTORY = 2000, 20
BIG_FILES, BIG_SIZE = 4, 6 * 1024 * 1024  # two 5 MiB parts each
MULTIPART = ("--multipart-threshold", "5MiB", "--multipart-chunksize", "5MiB")
UPLOADS = "UploadShards"  # the label in the name of the Flink vertex that uploads
RESTART_ATTEMPTS = 3


@contextlib.contextmanager
def _flink(restart_attempts: int) -> Iterator[FlinkSetup]:
    dist = prepare()  # fails, never skips, when Flink cannot be had
    with (
        BridgeNetwork() as network,
        LocalS3(ip=network.host_ip) as s3,
        FlinkCluster(
            dist, network, worker_env=s3.env(), slots=2, restart_attempts=restart_attempts
        ) as cluster,
    ):
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        yield FlinkSetup(cluster, s3, client)


def _tree(root: Path) -> dict[str, bytes]:
    """2,000 files of 0-1 KiB in 100 directories and four 6 MiB files, on the shared
    path; returns the path of each under ``root`` -> its bytes."""
    files = {}
    for number in range(SMALL_FILES):
        files[f"d{number // PER_DIRECTORY:03d}/f{number:05d}.bin"] = os.urandom(number % 1025)
    for number in range(BIG_FILES):
        files[f"big/b{number}.bin"] = os.urandom(BIG_SIZE)
    for path, data in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    return files


class _Gate:
    """What the proxy does with the workers' writes (PUT, POST): at first it holds every
    part upload and lets the rest through; after ``drop`` it drops every write; after
    ``let_through`` it forwards them all."""

    def __init__(self) -> None:
        self._state = "hold"
        self._changed = threading.Condition()
        self.held = 0

    def __call__(self, method: str, target: str) -> None:
        if method not in ("PUT", "POST"):
            return
        with self._changed:
            if self._state == "hold" and "partNumber=" in target:
                self.held += 1
                self._changed.wait_for(lambda: self._state != "hold", timeout=CLI_TIMEOUT_S)
            if self._state == "drop":
                raise Drop(target)

    def _set(self, state: str) -> None:
        with self._changed:
            self._state = state
            self._changed.notify_all()

    def drop(self) -> None:
        self._set("drop")

    def let_through(self) -> None:
        self._set("pass")


def _deadline_passed(started: float) -> bool:
    return time.monotonic() - started > CLI_TIMEOUT_S / 2


@contextlib.contextmanager
def _upload_losing_a_taskmanager(
    flink: FlinkSetup, prefix: str, source: Path, reports: Path
) -> Iterator[tuple[Any, _Gate, str]]:
    """Start the CLI through a gated proxy, wait until the job is certainly mid-way (the
    REST API shows it running, objects are in the bucket, multipart uploads are open and
    their parts held), then SIGKILL the TaskManager that runs the uploads and drop every
    write. Yields the CLI's process, the gate and the Flink job id; the caller finishes
    the CLI."""
    cluster, client = flink.cluster, flink.client
    gate = _Gate()
    with FaultProxy(flink.s3.port, host=flink.s3.ip, max_connections=512) as proxy:
        proxy.before_forward = gate
        before = cluster.job_ids()
        command = _command(
            flink, "--prefix", prefix, "--report", str(reports), "--concurrency", "32",
            *MULTIPART, str(source), endpoint=proxy.endpoint_url,
        )  # fmt: skip
        proc = _start(flink, command)
        try:
            started = time.monotonic()
            while True:
                assert proc.poll() is None, _explain(_finish(flink, proc), cluster)
                assert not _deadline_passed(started), "the upload never got mid-way"
                jobs = cluster.job_ids() - before
                landed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")["KeyCount"]
                if jobs and landed and gate.held and _open_uploads(client, f"{prefix}/"):
                    (job,) = jobs
                    if cluster.rest(f"/jobs/{job}")["state"] == "RUNNING":
                        break
                time.sleep(0.2)
            (victim, *_) = cluster.hosts_running(job, UPLOADS)
            cluster.kill_taskmanager(victim)
            gate.drop()
            yield proc, gate, job
        finally:
            gate.drop()  # whatever is still held goes nowhere
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _restarted(flink: FlinkSetup, job: str) -> bool:
    """Flink shows every upload subtask of the job running again, in a later attempt."""
    tasks = flink.cluster.subtasks(job, UPLOADS)
    return bool(tasks) and all(t["attempt"] >= 1 and t["status"] == "RUNNING" for t in tasks)


def _stored(flink: FlinkSetup, prefix: str) -> dict[str, bytes]:
    stored = bucket_objects(flink.client, BUCKET)
    return {key[len(prefix) + 1 :]: data for key, data in stored.items() if key.startswith(prefix)}


def _no_upload_left_open(flink: FlinkSetup, prefix: str) -> None:
    for _ in range(5):  # and none opened late by a worker of the lost attempt
        assert _open_uploads(flink.client, f"{prefix}/") == []
        time.sleep(0.5)


class TestWithARestartStrategy:
    @pytest.fixture(scope="class")
    def flink(self) -> Iterator[FlinkSetup]:
        with _flink(RESTART_ATTEMPTS) as setup:
            yield setup

    def test_a_runners_own_option_reaches_the_flink_job_and_a_slip_in_one_is_refused(
        self, flink: FlinkSetup
    ) -> None:
        cluster = flink.cluster
        source = cluster.shared / "few"
        files = {f"f{number}.txt": b"%d" % number for number in range(5)}
        source.mkdir()
        for name, data in files.items():
            (source / name).write_bytes(data)
        before = cluster.job_ids()
        # Flink's job server takes no such option: Beam would drop it without a word.
        slip = _command(
            flink, "--prefix", "options", "--number_of_execution_retires", "2", str(source)
        )
        refused = _finish(flink, _start(flink, slip))
        assert refused.code == 2, _explain(refused, cluster)
        assert refused.stderr.strip().splitlines() == [
            "s3-parallel-put: error: the job service of FlinkRunner takes no option "
            "--number_of_execution_retires, so the job would run without it; nothing was "
            "run (did you mean --number_of_execution_retries?)"
        ]
        assert cluster.job_ids() == before
        assert _stored(flink, "options") == {}
        command = _command(
            flink, "--prefix", "options", "--number_of_execution_retries", "2",
            "--execution_retry_delay=1500", str(source),
        )  # fmt: skip
        result = _finish(flink, _start(flink, command))

        assert result.code == 0, _explain(result, cluster)
        assert _stored(flink, "options") == files
        (job,) = cluster.job_ids() - before
        # Beam's Flink job server sets the options it knows in the job's configuration.
        options = cluster.rest(f"/jobs/{job}/config")["execution-config"]["user-config"]
        assert (options["numberOfExecutionRetries"], options["executionRetryDelay"]) == (
            "2",
            "1500",
        )

    def test_a_taskmanager_lost_mid_upload_is_survived_exactly(self, flink: FlinkSetup) -> None:
        cluster = flink.cluster
        source, reports = cluster.shared / "survived", cluster.shared / "survived-reports"
        files = _tree(source)
        started = time.monotonic()
        with _upload_losing_a_taskmanager(flink, "survived", source, reports) as (
            proc, gate, job,
        ):  # fmt: skip
            killed = time.monotonic()
            while not _restarted(flink, job):
                assert proc.poll() is None, _explain(_finish(flink, proc), cluster)
                assert not _deadline_passed(killed), "Flink did not restart the job"
                time.sleep(0.2)
            restarted = time.monotonic()
            gate.let_through()
            result = _finish(flink, proc)
        ended = time.monotonic()
        print(
            f"killed after {killed - started:.1f} s, restarted {restarted - killed:.1f} s "
            f"later, the run ended {ended - restarted:.1f} s after that"
        )

        assert result.code == 0, _explain(result, cluster)
        assert "Traceback" not in result.stderr
        history = cluster.rest(f"/jobs/{job}/exceptions")["exceptionHistory"]["entries"]
        assert history, "the job did not fail over"
        assert cluster.rest(f"/jobs/{job}")["state"] == "FINISHED"
        summary = result.summary
        assert (summary["files"], summary["failed"]) == (len(files), 0), summary
        assert summary["uploaded"] + summary["skipped"] == len(files), summary
        stored = _stored(flink, "survived")
        assert stored.keys() == files.keys()
        assert [path for path in files if stored[path] != files[path]] == []
        _no_upload_left_open(flink, "survived")  # the lost attempt's, aborted

        again = _finish(
            flink,
            _start(flink, _command(flink, "--prefix", "survived", "--resume", str(reports),
                                   *MULTIPART, str(source))),
        )  # fmt: skip
        assert again.code == 0, _explain(again, cluster)
        assert (again.summary["uploaded"], again.summary["skipped"]) == (0, len(files))


class TestWithoutARestartStrategy:
    @pytest.fixture(scope="class")
    def flink(self) -> Iterator[FlinkSetup]:
        with _flink(0) as setup:
            yield setup

    def test_a_taskmanager_lost_mid_upload_ends_the_run_in_one_line_and_resume_finishes(
        self, flink: FlinkSetup
    ) -> None:
        cluster = flink.cluster
        source, reports = cluster.shared / "lost", cluster.shared / "lost-reports"
        files = _tree(source)
        started = time.monotonic()
        with _upload_losing_a_taskmanager(flink, "lost", source, reports) as (proc, _, job):
            killed = time.monotonic()
            result = _finish(flink, proc)
            ended = time.monotonic()
            _no_upload_left_open(flink, "lost")  # while writes are still dropped
        print(f"killed after {killed - started:.1f} s, the run ended {ended - killed:.1f} s later")

        assert result.code == 1, _explain(result, cluster)
        assert cluster.rest(f"/jobs/{job}")["state"] == "FAILED"
        said = [line for line in result.stderr.splitlines() if "error" in line.lower()]
        assert len(said) == 1, result.stderr
        assert said[0].startswith(
            "s3-parallel-put: error: the job failed because a worker was lost ("
        ), said
        assert f"run the same command with --resume {reports} " in said[0]
        assert "Traceback" not in result.stderr and "Exception" not in result.stderr
        landed = _stored(flink, "lost")  # as the lost job left the bucket
        assert landed and len(landed) < len(files)

        again = _finish(
            flink,
            _start(flink, _command(flink, "--prefix", "lost", "--resume", str(reports),
                                   *MULTIPART, str(source))),
        )  # fmt: skip
        assert again.code == 0, _explain(again, cluster)
        summary: dict[str, Any] = again.summary
        assert (summary["files"], summary["failed"]) == (len(files), 0), summary
        assert (summary["uploaded"], summary["skipped"]) == (
            len(files) - len(landed),
            len(landed),
        ), summary
        stored = _stored(flink, "lost")
        assert stored.keys() == files.keys()
        assert [path for path in files if stored[path] != files[path]] == []
