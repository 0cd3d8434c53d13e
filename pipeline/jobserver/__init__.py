"""A long-running Beam Flink job server, for the runs on one Flink cluster to share.

Each run with ``--runner FlinkRunner`` and no ``--job_endpoint`` starts Beam's job server
(a JVM, ~3 s) and stops it at the end. ``python -m pipeline.jobserver --flink_master
HOST:PORT`` starts the same job server (the jar that ``--flink_job_server_jar`` names, or
Beam's own download, as the FlinkRunner would pick it) once and keeps it running; runs
then pass ``--job_endpoint`` beside ``--runner FlinkRunner --flink_master HOST:PORT``.

``--runner_jars_on_cluster`` starts it for a cluster whose ``lib/`` holds Beam's Flink
runner and its dependencies: its jobs ship no jars. Beam's own job server ships its whole
classpath (~150 MB) with every job, whatever the job's ``filesToStage``; this one runs
``ClusterLibJobServer.java`` (compiled once with ``javac`` against the job server's jar),
Beam's job server with an invoker that names no jars.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

from pipeline.errors import UsageError

MAIN_CLASS = "s3parallelput.ClusterLibJobServer"
_SOURCE = Path(__file__).with_name("ClusterLibJobServer.java")
_CACHE = Path.home() / ".cache" / "s3-parallel-put" / "jobserver"
_COMPILE_TIMEOUT_S = 300


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.jobserver",
        description="Start Beam's Flink job server and keep it running, for runs that pass "
        "--runner FlinkRunner --flink_master HOST:PORT --job_endpoint JOB_HOST:JOB_PORT.",
    )
    parser.add_argument("--flink_master", required=True, help="the Flink REST address HOST:PORT")
    parser.add_argument(
        "--job_host",
        default="localhost",
        help="the name the clients reach this machine by (default: localhost)",
    )
    parser.add_argument(
        "--job_port", type=int, default=8099, help="the job service's port (default: 8099)"
    )
    parser.add_argument(
        "--runner_jars_on_cluster",
        action="store_true",
        help="the cluster's lib/ holds Beam's Flink runner and its dependencies: ship no jars",
    )
    parser.add_argument("--flink_conf_dir", help="Flink configuration that every job gets")
    return parser


def _beam_options(argv: list[str]) -> tuple[argparse.Namespace, object]:
    """This command's options, and Beam's (--flink_job_server_jar, --flink_version,
    --artifact_port, --artifacts_dir...) as PipelineOptions."""
    from apache_beam.options.pipeline_options import PipelineOptions

    args, rest = _parser().parse_known_args(argv)
    options = PipelineOptions(rest, flink_master=args.flink_master)
    given = options.get_all_options(retain_unknown_options=True).keys()
    unknown = sorted(given - options.get_all_options().keys())
    if unknown:
        raise UsageError(f"unknown option --{unknown[0]}")
    return args, options


def job_server_jar(options: object) -> str:
    """The job server jar, as Beam's FlinkRunner would pick it (downloaded and cached if
    it names a URL or nothing)."""
    from apache_beam.runners.portability.flink_runner import FlinkJarJobServer

    server = FlinkJarJobServer(options)
    jar: str = server.local_jar(server.path_to_jar())
    return jar


def compiled_main(jar: str, cache: Path = _CACHE) -> Path:
    """The directory of ``ClusterLibJobServer``'s classes, compiled against ``jar`` once."""
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(source + os.fsencode(os.path.abspath(jar))).hexdigest()[:16]
    classes = cache / key
    if (classes / (MAIN_CLASS.replace(".", "/") + ".class")).is_file():
        return classes
    javac = shutil.which("javac")
    if javac is None:
        raise UsageError("--runner_jars_on_cluster needs javac (a JDK) on this machine")
    building = cache / f"{key}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    proc = subprocess.run(
        [javac, "-nowarn", "-cp", jar, "-d", str(building), str(_SOURCE)],
        capture_output=True,
        text=True,
        timeout=_COMPILE_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        shutil.rmtree(building, ignore_errors=True)
        first = (proc.stderr.strip().splitlines() or ["no output"])[0]
        raise UsageError(f"{jar} is not a Beam Flink job server javac can build against: {first}")
    shutil.rmtree(classes, ignore_errors=True)
    building.rename(classes)
    return classes


def command(argv: list[str]) -> list[str]:
    """The java command line of the job server that ``argv`` asks for."""
    from apache_beam.options.pipeline_options import JobServerOptions

    args, options = _beam_options(argv)
    jar = job_server_jar(options)
    server = options.view_as(JobServerOptions)  # type: ignore[attr-defined]
    java = [server.job_server_java_launcher, *server.job_server_jvm_properties]
    if args.runner_jars_on_cluster:
        java += ["-cp", f"{compiled_main(jar)}{os.pathsep}{jar}", MAIN_CLASS]
    else:
        java += ["-jar", jar]
    java += [
        "--flink-master", args.flink_master,
        "--job-host", args.job_host,
        "--job-port", str(args.job_port),
        "--artifact-port", str(server.artifact_port),
        "--expansion-port", "-1",
    ]  # fmt: skip
    if server.artifacts_dir:
        java += ["--artifacts-dir", server.artifacts_dir]
    if args.flink_conf_dir:
        java += ["--flink-conf-dir", args.flink_conf_dir]
    return java


def main(argv: list[str]) -> int:
    from pipeline.console import not_beam_gcp_noise

    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # the error line says it once
    logging.getLogger().addFilter(not_beam_gcp_noise)
    try:
        java = command(argv)
    except UsageError as e:
        print(f"python -m pipeline.jobserver: error: {e}", file=sys.stderr)
        return 2
    print(f"starting: {' '.join(java)}", file=sys.stderr, flush=True)
    os.execvp(java[0], java)
