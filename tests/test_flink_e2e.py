"""End to end on a real Flink cluster: the CLI uploads a tree with Beam's FlinkRunner.

A JobManager and two TaskManagers, each TaskManager on a host of its own (network, mount
and UTS namespaces, a private /tmp) with a Beam Python worker pool beside it, and a
SeaweedFS on the bridge they share with this process; see ``devsupport/flinkcluster.py``. The
SOURCE tree and ``--temp_location`` are on the one directory all hosts share.

Needs root, Java 17 and Maven. The first run downloads Flink and the Beam job server
(~350 MB, from PyPI and Maven) into ~/.cache/s3-parallel-put; if that fails, these tests
fail. Deselect them with ``-m "not flink"``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devsupport.faultproxy import FaultProxy, FaultRules
from devsupport.flinkcluster import BridgeNetwork, FlinkCluster, prepare
from devsupport.locals3 import LocalS3
from tests.conftest import REPO, CliResult, bucket_objects, make_tree, run_on_terminal
from tests.test_relay import PutGate, files_shown

pytestmark = pytest.mark.flink

DIRECTORIES, FILES_PER_DIRECTORY = 200, 10
FILES = DIRECTORIES * FILES_PER_DIRECTORY
BUCKET = "flink-e2e"
CLI_TIMEOUT_S = 600


@dataclass
class FlinkSetup:
    cluster: FlinkCluster
    s3: LocalS3
    client: Any


@dataclass
class FirstRun:
    """The first upload of the tree: its result, its Flink job and its report's shards."""

    result: CliResult
    job_id: str
    report_shards: list[Path]


@pytest.fixture(scope="module")
def flink() -> Iterator[FlinkSetup]:
    dist = prepare()  # fails, never skips, when Flink cannot be had
    with (
        BridgeNetwork() as network,
        LocalS3(ip=network.host_ip) as s3,
        FlinkCluster(dist, network, worker_env=s3.env()) as cluster,
    ):
        client = s3.client()
        client.create_bucket(Bucket=BUCKET)
        yield FlinkSetup(cluster, s3, client)


def _file_bytes(number: int) -> bytes:
    """Distinct contents; every 100th file ~100 KiB, the others 200 B to 3 KiB."""
    size = 100 * 1024 if number % 100 == 7 else 200 + (number * 37) % 3000
    return os.urandom(size)


@pytest.fixture(scope="module")
def tree(flink: FlinkSetup) -> dict[str, bytes]:
    """2,000 files in 200 directories on the shared path; returns key -> bytes."""
    root = flink.cluster.shared / "src"
    files = {}
    for directory in range(DIRECTORIES):
        (root / f"dir{directory:03d}").mkdir(parents=True)
        for index in range(FILES_PER_DIRECTORY):
            key = f"dir{directory:03d}/file{index}.bin"
            files[key] = data = _file_bytes(directory * FILES_PER_DIRECTORY + index)
            (root / key).write_bytes(data)
    return files


def _command(
    flink: FlinkSetup, *args: str, temp_location: bool = True, endpoint: str = ""
) -> list[str]:
    cluster = flink.cluster
    shared_temp = ["--temp_location", str(cluster.shared / "tmp")] if temp_location else []
    return [
        sys.executable, "-m", "pipeline",
        "--endpoint-url", endpoint or flink.s3.endpoint_url,
        "--bucket", BUCKET,
        "--json", *args,
        *cluster.beam_args(),
        *shared_temp,
    ]  # fmt: skip


def _start(flink: FlinkSetup, command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        env=flink.s3.env(),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(flink: FlinkSetup, proc: subprocess.Popen[str]) -> CliResult:
    """Wait for the CLI; on a timeout its session (the CLI and the job server JVM that
    Beam starts) is killed and the test fails."""
    try:
        stdout, stderr = proc.communicate(timeout=CLI_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=30)
        pytest.fail(
            f"the CLI ran over {CLI_TIMEOUT_S} s on Flink\n{stderr[-3000:]}\n{flink.cluster.logs()}"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever it left behind
    return CliResult(proc.returncode, stdout, stderr)


def run_on_flink(flink: FlinkSetup, *args: str, temp_location: bool = True) -> CliResult:
    """The real CLI on the cluster, in a session of its own."""
    return _finish(flink, _start(flink, _command(flink, *args, temp_location=temp_location)))


def _explain(result: CliResult, cluster: FlinkCluster) -> str:
    return (
        f"exit {result.code}\nstdout: {result.stdout[-2000:]}\n"
        f"stderr: {result.stderr[-4000:]}\n{cluster.logs()}"
    )


@pytest.fixture(scope="module")
def first_run(flink: FlinkSetup, tree: dict[str, bytes]) -> FirstRun:
    before = flink.cluster.job_ids()
    reports = flink.cluster.shared / "reports"
    result = run_on_flink(flink, "--report", str(reports), str(flink.cluster.shared / "src"))
    assert result.code == 0, _explain(result, flink.cluster)
    new_jobs = flink.cluster.job_ids() - before
    assert len(new_jobs) == 1, f"expected one new Flink job, found {new_jobs}"
    return FirstRun(result, new_jobs.pop(), sorted(reports.glob("*.jsonl")))


def test_upload_on_flink_lands_every_file(
    flink: FlinkSetup, tree: dict[str, bytes], first_run: FirstRun
) -> None:
    summary = first_run.result.summary
    assert (summary["files"], summary["uploaded"], summary["failed"]) == (FILES, FILES, 0), summary
    assert summary["bytes_uploaded"] == sum(len(data) for data in tree.values())
    stored = bucket_objects(flink.client, BUCKET)
    assert stored.keys() == tree.keys()
    assert [key for key in tree if stored[key] != tree[key]] == []


def test_upload_on_flink_runs_on_both_taskmanagers(flink: FlinkSetup, first_run: FirstRun) -> None:
    cluster = flink.cluster
    taskmanagers = cluster.taskmanager_ids()
    assert len(taskmanagers) == 2
    table = cluster.records_read(first_run.job_id)
    # After the first shuffle, some stage reads records on every TaskManager: both
    # TaskManagers (and the workers beside them) got a share of the files.
    spread = [name for name, per_tm in table[1:] if all(per_tm.get(tm) for tm in taskmanagers)]
    assert spread, f"no stage read records on both TaskManagers: {table}"
    # Each TaskManager asked the pool in its own namespace (localhost there) for a worker.
    for host in cluster.hosts:
        log = cluster.log_of(f"pool-{host.hostname}").read_text(errors="replace")
        assert "Starting worker with command" in log, f"no worker started on {host.hostname}"


def test_rerun_on_flink_uploads_nothing_and_counts_without_a_shared_temp_location(
    flink: FlinkSetup, tree: dict[str, bytes], first_run: FirstRun
) -> None:
    # The counts come back as Beam metrics: the summary file that --temp_location would
    # carry (the first failures) is not needed for them.
    result = run_on_flink(flink, str(flink.cluster.shared / "src"), temp_location=False)
    assert result.code == 0, _explain(result, flink.cluster)
    summary = result.summary
    expected = (FILES, 0, FILES, 0)
    assert (summary["files"], summary["uploaded"], summary["skipped"], summary["failed"]) == (
        expected
    ), summary


def test_report_on_flink_is_complete_and_names_both_hosts(
    flink: FlinkSetup, tree: dict[str, bytes], first_run: FirstRun
) -> None:
    shards = first_run.report_shards
    lines = [json.loads(line) for shard in shards for line in shard.read_text().splitlines()]
    assert sorted(line["key"] for line in lines) == sorted(tree)
    assert {line["action"] for line in lines} == {"uploaded"}
    hosts = {line["worker"].split("/")[0] for line in lines}
    assert hosts == {host.hostname for host in flink.cluster.hosts}, hosts
    assert {shard.name.split("-")[0] for shard in shards} == hosts  # shards never shared


def test_sigterm_cancels_the_flink_job_and_leaves_no_open_upload(
    flink: FlinkSetup, first_run: FirstRun
) -> None:
    cluster, client = flink.cluster, flink.client
    big = cluster.shared / "big"
    big.mkdir()
    for number in range(12):
        (big / f"part{number:02d}.bin").write_bytes(os.urandom(11 * 1024 * 1024))
    before = cluster.job_ids()
    # Every part's answer is held back 5 s, so the job is still uploading when stopped.
    slow_parts = FaultRules(
        stall=1.0, stall_seconds=5.0, predicate=lambda method, target: "partNumber=" in target
    )
    with FaultProxy(flink.s3.port, slow_parts, host=flink.s3.ip) as proxy:
        proxy_command = _command(
            flink, "--prefix", "cancelled", "--multipart-threshold", "5MiB",
            "--multipart-chunksize", "5MiB", "--concurrency", "1", str(big),
            endpoint=proxy.endpoint_url,
        )  # fmt: skip
        proc = _start(flink, proxy_command)
        try:
            deadline = time.monotonic() + CLI_TIMEOUT_S / 2
            while not _open_uploads(client, "cancelled/"):
                assert proc.poll() is None, _explain(_finish(flink, proc), cluster)
                assert time.monotonic() < deadline, "no multipart upload started on Flink"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            result = _finish(flink, proc)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

    assert result.code == 130, _explain(result, cluster)
    assert "Traceback" not in result.stderr
    (job,) = cluster.job_ids() - before
    assert cluster.rest(f"/jobs/{job}")["state"] == "CANCELED", _explain(result, cluster)
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="cancelled/")
    assert len(listed.get("Contents", [])) < 12  # it was stopped, not finished
    for _ in range(10):  # and nothing is left open, nor opened late by a worker
        assert _open_uploads(client, "cancelled/") == []
        time.sleep(0.3)


def _open_uploads(client: Any, prefix: str) -> list[str]:
    answer = client.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix)
    return [upload["Key"] for upload in answer.get("Uploads", [])]


def test_resume_on_flink_reads_every_report_shard(
    flink: FlinkSetup, tree: dict[str, bytes], first_run: FirstRun
) -> None:
    reports = flink.cluster.shared / "reports"
    shards_before = set(reports.glob("*.jsonl"))
    result = run_on_flink(flink, "--resume", str(reports), str(flink.cluster.shared / "src"))
    assert result.code == 0, _explain(result, flink.cluster)
    assert (result.summary["skipped"], result.summary["uploaded"]) == (FILES, 0)
    new_shards = set(reports.glob("*.jsonl")) - shards_before
    lines = [json.loads(line) for shard in new_shards for line in shard.read_text().splitlines()]
    assert len(lines) == FILES
    assert {line["reason"] for line in lines} == {"recorded done (resume)"}


def test_files_from_on_flink_is_read_by_the_workers(
    flink: FlinkSetup, tree: dict[str, bytes], first_run: FirstRun
) -> None:
    listed = sorted(tree)[::7]
    listing = flink.cluster.shared / "files.txt"
    listing.write_text("".join(f"{key}\n" for key in listed) + "no/such/file\n")
    result = run_on_flink(
        flink, "--prefix", "listed", "--files-from", str(listing),
        str(flink.cluster.shared / "src"),
    )  # fmt: skip
    assert result.code == 1, _explain(result, flink.cluster)  # the missing file failed
    summary = result.summary
    assert (summary["uploaded"], summary["failed"]) == (len(listed), 1), summary
    stored = {
        obj["Key"]
        for page in flink.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="listed/"
        )
        for obj in page.get("Contents", [])
    }
    assert stored == {f"listed/{key}" for key in listed}


def test_delete_on_flink_joins_the_listing_with_the_walk_on_the_workers(
    flink: FlinkSetup, tree: dict[str, bytes]
) -> None:
    stale = ["mirror/dir000/stale.bin", "mirror/nodir/deep/x.bin"]
    for key in [*stale, "mirrored/kept.bin"]:
        flink.client.put_object(Bucket=BUCKET, Key=key, Body=b"stale")
    reports = flink.cluster.shared / "delete-reports"
    result = run_on_flink(
        flink, "--prefix", "mirror", "--delete", "--report", str(reports),
        str(flink.cluster.shared / "src"),
    )  # fmt: skip
    assert result.code == 0, _explain(result, flink.cluster)
    assert (result.summary["uploaded"], result.summary["deleted"]) == (FILES, 2)
    lines = [json.loads(line) for shard in reports.glob("*.jsonl") for line in shard.open()]
    deleted = [line for line in lines if line["action"] == "deleted"]
    assert sorted(line["key"] for line in deleted) == stale
    assert {line["worker"].split("/")[0] for line in deleted} <= {"tm1", "tm2"}
    keys = {
        obj["Key"]
        for page in flink.client.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="mirror"
        )
        for obj in page.get("Contents", [])
    }
    assert keys == {f"mirror/{key}" for key in tree} | {"mirrored/kept.bin"}


def test_the_bar_counts_files_on_flink_while_the_workers_upload(flink: FlinkSetup) -> None:
    """10,000 files in 200 directories, spread over two workers; only the first 2,000
    PUTs are let through, the rest held. Each worker's share (about 5,000 files) is one
    Beam bundle in a Flink batch task, whose counts Flink sees only once it ends, so
    neither share can have ended, and one that had would add thousands at once. Yet,
    while the job runs, the bar counts up through several values of at most 2,000:
    the workers' own counts, relayed to the client as they go."""
    cluster = flink.cluster
    files = {f"d{n // 50:03d}/f{n:05d}": b"%d" % n for n in range(10_000)}
    root = make_tree(cluster.shared / "many", files)
    gate = PutGate(let=2000)
    before = cluster.job_ids()

    def counted_up_while_held(screen: str) -> bool:
        shown = {n for n in files_shown(screen) if 0 < n <= 2000}
        if not gate.held or len(shown) < 2:
            return False
        jobs = cluster.job_ids() - before
        return any(cluster.rest(f"/jobs/{job}")["state"] == "RUNNING" for job in jobs)

    with FaultProxy(flink.s3.port, host=flink.s3.ip, max_connections=512) as proxy:
        proxy.before_forward = gate
        code, _, screen = run_on_terminal(
            ["--endpoint-url", proxy.endpoint_url, "--bucket", BUCKET, "--prefix", "live",
             *cluster.beam_args(), "--temp_location", str(cluster.shared / "tmp"), str(root)],
            flink.s3.env(), timeout=CLI_TIMEOUT_S,
            interrupt_when=counted_up_while_held, then=lambda _: gate.release(),
        )  # fmt: skip

    assert gate.released, screen[-3000:]
    assert code == 0, f"{screen[-3000:]}\n{cluster.logs()}"
    shown = files_shown(screen)
    assert shown[-1] == len(files), shown
    assert _count_under(flink.client, "live/") == len(files)


def _count_under(client: Any, prefix: str) -> int:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return sum(page.get("KeyCount", 0) for page in pages)
