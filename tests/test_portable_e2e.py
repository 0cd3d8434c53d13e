"""The portable path with an EXTERNAL worker pool that shares nothing with the client.

The pool runs in its own mount namespace with a private /tmp (as a worker host would):
the counts must still come back (through Beam metrics), the report is written as shards
by the worker, and nothing may work by accident through the client's /tmp.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from devsupport.privatetmp import remove_stage, shell_setup
from tests.conftest import REPO, bucket_objects, make_tree

_READY_S = 60.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the worker pool exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("the worker pool did not listen in time")


@pytest.fixture(scope="module")
def worker_pool(s3_server: LocalS3) -> Iterator[int]:
    """A Beam worker pool in a private mount namespace with its own empty /tmp."""
    port = _free_port()
    venv_bin = os.path.dirname(sys.executable)
    env = s3_server.env()
    env["PATH"] = f"{venv_bin}:{env.get('PATH', '')}"  # the pool starts workers as `python`
    pool = f"exec python -m apache_beam.runners.worker.worker_pool_main --service_port {port}"
    stage = Path(tempfile.mkdtemp(prefix="s3pp-stage-", dir="/var/tmp"))
    private_tmp = shell_setup([REPO, Path(sys.prefix)], stage)
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c",
         f"{private_tmp} && {pool}"],
        env=env, stdin=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        _wait_listening(port, proc)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        remove_stage(stage)


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory outside /tmp, which the pool's namespace sees too."""
    path = Path(tempfile.mkdtemp(prefix="s3pp-shared-", dir="/var/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_counts_come_back_without_a_shared_temp_location(
    run_cli: Any, s3_client: Any, bucket: str, worker_pool: int, shared_dir: Path
) -> None:
    files = {f"d{d}/f{f}.txt": f"{d}-{f}".encode() for d in range(6) for f in range(50)}
    tree = make_tree(shared_dir / "src", files)
    reports = shared_dir / "reports"
    external = [
        "--runner", "PortableRunner", "--job_endpoint", "embed",
        "--environment_type", "EXTERNAL", "--environment_config", f"localhost:{worker_pool}",
    ]  # fmt: skip

    first = run_cli("--bucket", bucket, "--report", str(reports), "--json", str(tree), *external)
    again = run_cli("--bucket", bucket, "--json", str(tree), *external)

    assert first.code == 0, first.stderr
    assert (first.summary["files"], first.summary["uploaded"]) == (300, 300)
    assert bucket_objects(s3_client, bucket) == files
    lines = [json.loads(line) for shard in reports.glob("*.jsonl") for line in shard.open()]
    assert sorted(line["key"] for line in lines) == sorted(files)
    assert again.code == 0, again.stderr
    assert (again.summary["files"], again.summary["skipped"]) == (300, 300)


def test_setup_file_is_built_and_staged(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    """Beam's ``--setup_file ./setup.py`` (as for Dataflow) builds an sdist of the clone
    where the job is submitted and stages it with the job: the portable run does that
    from the package's metadata in pyproject.toml, and uploads."""
    tree = make_tree(tmp_path / "src", {"a.txt": b"a"})
    portable = [
        "--runner", "PortableRunner", "--job_endpoint", "embed", "--environment_type", "LOOPBACK",
    ]  # fmt: skip

    result = run_cli("--bucket", bucket, "-vv", str(tree), *portable, "--setup_file", "./setup.py")

    assert result.code == 0, result.stderr
    built = [line for line in result.stderr.splitlines() if "Executing command" in line]
    assert built and all("'--sdist'" in line for line in built), built
    assert bucket_objects(s3_client, bucket) == {"a.txt": b"a"}
