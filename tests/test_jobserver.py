"""``python -m pipeline.jobserver``: the job server's command line, and bad usage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pipeline.jobserver import command
from tests.conftest import REPO


def test_the_job_server_is_beams_with_a_fixed_job_port(tmp_path: Path) -> None:
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"")

    java = command(
        ["--flink_master", "jm:8081", "--flink_job_server_jar", str(jar), "--artifacts_dir", "/a"]
    )

    assert java[:3] == ["java", "-jar", str(jar)]
    flags = dict(zip(java[3::2], java[4::2], strict=True))
    assert flags == {
        "--flink-master": "jm:8081",
        "--job-host": "localhost",
        "--job-port": "8099",
        "--artifact-port": "0",
        "--expansion-port": "-1",
        "--artifacts-dir": "/a",
    }


def test_an_unknown_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    jar = tmp_path / "job-server.jar"
    jar.write_bytes(b"")
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.jobserver", "--flink_master", "jm:8081",
         "--flink_job_server_jar", str(jar), "--job_prot", "1"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "python -m pipeline.jobserver: error: unknown option --job_prot"
    ]
