"""The benchmark's process sampler: what it reads from /proc, and of whom."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.procwatch import CLIENT, ProcessWatch, memory_kib, role_of, session_of

STATUS = "Name:\tjava\nVmPeak:\t 3060 kB\nVmHWM:\t  901234 kB\nVmRSS:\t  456789 kB\nThreads:\t9\n"


def test_memory_is_read_from_the_status_text() -> None:
    assert memory_kib(STATUS) == (901234, 456789)
    assert memory_kib("Name:\tkthreadd\nThreads:\t1\n") == (0, 0)


def test_the_session_comes_after_the_command_even_with_spaces_and_parens() -> None:
    assert session_of("42 (a (b) c) S 1 42 4242 0 -1 4194560") == 4242


def test_roles_come_from_the_command_line() -> None:
    runner = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner"
    assert role_of(["/usr/bin/java", "-Xmx200m", "-classpath", "x.jar", runner]) == (
        "TaskManager JVM"
    )
    harness = "from apache_beam.runners.worker.sdk_worker import SdkHarness; SdkHarness().run()"
    assert role_of(["python", "-c", harness]) == "SDK worker"
    pool = ["python", "-m", "apache_beam.runners.worker.worker_pool_main", "--service_port", "1"]
    assert role_of(pool) == "worker pool"
    assert role_of(["java", "-jar", "/c/beam-flink-job-server.jar", "--job-port", "0"]) == (
        "job server JVM"
    )
    client = [sys.executable, "-m", "pipeline", "--bucket", "b", "src"]
    assert role_of(client) == "client"
    # the client names the job server's jar among its options: it is still the client
    assert role_of([*client, "--flink_job_server_jar", "/c/beam-flink-job-server.jar"]) == (
        "client"
    )
    assert role_of(["/usr/bin/sleep", "infinity"]) == "other: sleep"


def _named(watch: ProcessWatch, role: str) -> bool:
    return any(peak.role == role for peak in watch.peaks.values())


def test_a_followed_session_is_sampled_with_its_children() -> None:
    child = [sys.executable, "-c", "import subprocess, sys; subprocess.run(['sleep', '30'])"]
    proc = subprocess.Popen(child, start_new_session=True)
    try:
        with ProcessWatch({}, interval=0.05) as watch:
            watch.follow_session(proc.pid)
            deadline = time.monotonic() + 30
            # python, then sleep once its child has exec'd it
            while not _named(watch, "other: sleep") and time.monotonic() < deadline:
                watch.sample()
        peaks = sorted(watch.peaks.values(), key=lambda peak: peak.pid)
        assert [peak.host for peak in peaks] == [CLIENT, CLIENT]
        assert peaks[0].pid == proc.pid and peaks[0].vmhwm_kib > 0
        assert peaks[1].role == "other: sleep"
        assert os.getpid() not in watch.peaks  # not in the session
    finally:
        proc.kill()
        proc.wait()
