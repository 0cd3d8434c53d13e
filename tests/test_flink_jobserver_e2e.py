"""End to end on a real Flink cluster: a long-running job server that runs share
(``python -m pipeline.jobserver``), and, with ``--runner_jars_on_cluster``, jobs that ship
no jars to a cluster whose lib/ holds Beam's Flink runner.

One cluster, two TaskManagers, Beam's runner jars in its lib/ (``FlinkCluster(...,
runner_in_lib=True)``); the job server runs on this machine, as the client's would, for
the whole module. Whether a job shipped jars is read where Flink says it: each
TaskManager logs every blob of a job that it downloads from the JobManager (``Downloading
JOB_ID/p-...``), the job's jars among them. The helpers are ``tests/test_flink_e2e.py``'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devsupport.flinkcluster import REST_PORT, BridgeNetwork, FlinkCluster, prepare
from devsupport.locals3 import LocalS3
from tests.conftest import REPO, bucket_objects
from tests.test_flink_e2e import BUCKET, FlinkSetup, _explain, run_on_flink

pytestmark = pytest.mark.flink

FILES = 300
_JOB_SERVER_START_S = 120
_STOP_S = 20


@dataclass
class SharedServer:
    flink: FlinkSetup
    endpoint: str  # --job_endpoint
    log: Path  # the job server's output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _job_server(cluster: FlinkCluster, log: Path) -> Iterator[str]:
    """``python -m pipeline.jobserver --runner_jars_on_cluster`` for ``cluster``, until
    its job service listens; yields its endpoint and stops it (its whole session) after."""
    port = _free_port()
    command = [
        sys.executable, "-m", "pipeline.jobserver",
        "--flink_master", f"{cluster.ip}:{REST_PORT}",
        "--flink_job_server_jar", str(cluster.dist.job_server_jar),
        "--job_port", str(port),
        "--artifacts_dir", str(cluster.shared / "artifacts"),
        "--runner_jars_on_cluster",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            command, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + _JOB_SERVER_START_S
        while f"JobService started on localhost:{port}" not in log.read_text(errors="replace"):
            assert proc.poll() is None, f"the job server exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no job server:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield f"localhost:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=_STOP_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=_STOP_S)


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    dist = prepare()  # fails, never skips, when Flink cannot be had
    log = tmp_path_factory.mktemp("jobserver") / "jobserver.log"
    with (
        BridgeNetwork() as network,
        LocalS3(ip=network.host_ip) as s3,
        FlinkCluster(dist, network, worker_env=s3.env(), runner_in_lib=True) as cluster,
        _job_server(cluster, log) as endpoint,
    ):
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        yield SharedServer(FlinkSetup(cluster, s3, client), endpoint, log)


@pytest.fixture(scope="module")
def tree(shared: SharedServer) -> dict[str, bytes]:
    """300 files in 30 directories on the shared path; returns key -> bytes."""
    root = shared.flink.cluster.shared / "src"
    files = {f"d{n // 10:02d}/f{n:03d}.bin": os.urandom(n * 7) for n in range(FILES)}
    for key, data in files.items():
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)
    return files


def _blobs_downloaded(cluster: FlinkCluster, job_id: str) -> int:
    """The blobs of ``job_id`` that the TaskManagers downloaded; each must have run some
    of its tasks (else no download would say nothing)."""
    downloads = 0
    for host in cluster.hosts:
        log = next((cluster.workdir / "logs" / host.hostname).glob("flink--taskexecutor-*.log"))
        text = log.read_text(errors="replace")
        assert f"connection for job {job_id}" in text, f"{host.hostname} ran nothing of {job_id}"
        downloads += text.count(f"Downloading {job_id}/")
    return downloads


def _run(shared: SharedServer, *args: str) -> tuple[dict[str, int], str]:
    """A run on the shared job server: its summary and its Flink job's id."""
    cluster = shared.flink.cluster
    before = cluster.job_ids()
    src = str(cluster.shared / "src")
    result = run_on_flink(shared.flink, *args, src, "--job_endpoint", shared.endpoint)
    assert result.code == 0, _explain(result, cluster)
    (job_id,) = cluster.job_ids() - before
    assert cluster.rest(f"/jobs/{job_id}")["state"] == "FINISHED"
    return result.summary, job_id


def _stored(shared: SharedServer, prefix: str) -> dict[str, bytes]:
    """The objects under ``prefix/``, by their keys without it."""
    stored = bucket_objects(shared.flink.client, BUCKET)
    under = f"{prefix}/"
    return {key[len(under) :]: data for key, data in stored.items() if key.startswith(under)}


def test_two_runs_share_one_job_server(shared: SharedServer, tree: dict[str, bytes]) -> None:
    first, _ = _run(shared, "--prefix", "shared")
    again, _ = _run(shared, "--prefix", "shared")

    assert (first["uploaded"], first["failed"]) == (FILES, 0), first
    assert (again["uploaded"], again["skipped"], again["failed"]) == (0, FILES, 0), again
    assert _stored(shared, "shared") == tree
    # Both jobs went through the one job server, which runs on.
    assert shared.log.read_text(errors="replace").count("Invoking job BeamApp-") == 2


def test_jobs_of_the_shared_job_server_ship_no_jars(
    shared: SharedServer, tree: dict[str, bytes]
) -> None:
    _, shared_job = _run(shared, "--prefix", "thin")
    cluster = shared.flink.cluster
    before = cluster.job_ids()
    # The same upload through the job server that Beam's FlinkRunner starts for itself.
    result = run_on_flink(shared.flink, "--prefix", "shipped", str(cluster.shared / "src"))
    assert result.code == 0, _explain(result, cluster)
    (own_job,) = cluster.job_ids() - before

    assert _blobs_downloaded(cluster, shared_job) == 0
    # Beam's own ships its classpath, ~160 jars, to each of the two TaskManagers.
    assert _blobs_downloaded(cluster, own_job) > 2 * 100
    assert _stored(shared, "thin") == tree
    assert _stored(shared, "shipped") == tree
