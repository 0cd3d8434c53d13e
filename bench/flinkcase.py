"""Case flink200k: one big tree uploaded on the test Flink cluster and on the local runner.

    python -m bench.run --flink200k [--flink-files N] [--timeout S] [--results DIR]

A tree of N files (default 200,000) of 0-4 KiB in N/100 directories is uploaded by ours
on a Flink cluster of two TaskManagers (``devsupport.flinkcluster``, as the Flink tests
start it; needs root, Java 17 and Maven) and by ours on the default local runner, each
into a bucket of its own on one SeaweedFS that the cluster's hosts reach; then each
re-syncs the unchanged tree (a no-op). Every run is timed and its processes' memory
sampled (``bench.procwatch``); the buckets are checked as the other cases check them.
Writes bench/results/<UTC time>-flink<N/1000>k.md/.json (and latest-flink<N/1000>k.*).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench.checks import check_run
from bench.measure import run_measured
from bench.paths import REPO, log, shown
from bench.procwatch import CLIENT, ProcessPeak, ProcessWatch
from bench.report import header, machine_info, write_results
from bench.tools import Mode, Target, collect_versions, ours
from bench.verify import (
    NOOP_SETTLE_S,
    Remote,
    check_sync,
    list_prefix,
    make_bucket,
    s3_client,
)
from bench.workloads import KIB, MIB, FlatDirs, ensure_tree, tree_listing
from devsupport.flinkcluster import BridgeNetwork, FlinkCluster, prepare
from devsupport.locals3 import LocalS3

FILES_PER_DIR = 100
DEFAULT_FILES = 200_000
SAMPLE_INTERVAL_S = 0.5
PREFIX = "data"
RUNNERS = ("flink", "local")
MODES = (Mode.UPLOAD, Mode.NOOP)
JVM, WORKER = "TaskManager JVM", "SDK worker"
NA = "-"


@dataclass
class FlinkRun:
    """One measured run of ours: where, what, how long, how much memory, what landed."""

    runner: str
    mode: str
    command: list[str]
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the client and what it waited for (the job server JVM)
    rss_mb: float = 0.0  # ru_maxrss of the client's process tree
    returncode: int = 0
    problem: str = ""
    stderr_tail: str = ""
    checked: str = ""
    skipped: str = ""
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    processes: list[ProcessPeak] = field(default_factory=list)

    def peaks(self, host: str, role: str) -> list[float]:
        """Peak MiB of each process of ``host`` in ``role``, by pid."""
        found = (p for p in self.processes if p.host == host and p.role == role)
        return [p.peak_mib for p in sorted(found, key=lambda p: p.pid)]


@dataclass
class Setting:
    """What every run needs: the server, the cluster, the tree and the settings."""

    client: Any
    env: dict[str, str]
    cluster: FlinkCluster
    endpoint: str
    source: Path
    local: dict[str, int]
    timeout_s: float
    logs: Path


def tree_of(files: int) -> FlatDirs:
    return FlatDirs(dirs=files // FILES_PER_DIR, per_dir=FILES_PER_DIR, max_size=4 * KIB)


def run_flink_case(files: int, timeout_s: float, work: Path, results: Path) -> int:
    """Generate the tree, start the server and the cluster, run, write the results;
    the exit status (1 if any run or check failed)."""
    signal.signal(signal.SIGTERM, _exit_on_sigterm)  # the cluster is stopped on the way out
    started = datetime.now(UTC)
    spec = tree_of(files)
    label = f"flink{files // 1000}k"
    source = work / "trees" / f"flat{files // 1000}k"
    began = time.perf_counter()
    generated = ensure_tree(source, spec)
    log(f"{'generated' if generated else 'reusing'} tree {source.name}")
    local = tree_listing(source)
    took = time.perf_counter() - began
    log(f"{len(local):,} files, {sum(local.values()) / MIB:,.1f} MiB ({took:.1f} s)")
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    dist = prepare()
    with (
        BridgeNetwork() as network,
        LocalS3(ip=network.host_ip) as s3,
        FlinkCluster(dist, network, worker_env=s3.env()) as cluster,
    ):
        log(f"SeaweedFS S3 at {s3.endpoint_url}, Flink REST at {cluster.rest_url}")
        env = s3.env()
        client = s3_client(s3.endpoint_url, s3.access_key, s3.secret_key, s3.region)
        info = machine_info(collect_versions({"ours": ours()}, env, REPO), REPO)
        info["versions"]["flink"] = cluster.rest("/config").get("flink-version", "unknown")
        memory = [tm["memoryConfiguration"] for tm in cluster.rest("/taskmanagers")["taskmanagers"]]
        setting = Setting(client, env, cluster, s3.endpoint_url, source, local, timeout_s, logs)
        runs = [one for runner in RUNNERS for one in run_runner(setting, runner, label)]
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    settings = {
        "mode": label,
        "files": f"{len(local):,} of 0-4 KiB in {spec.dirs:,} directories",
        "bytes": f"{sum(local.values()):,}",
        "cluster": (
            f"{len(memory)} TaskManagers of {_mib(memory, 'totalProcessMemory')} MiB process "
            f"memory (JVM heap {_mib(memory, 'taskHeap')} MiB), 1 slot each, parallelism "
            f"{len(memory)}; a Beam worker pool beside each; SeaweedFS on their bridge"
        ),
        "started_utc": started.isoformat(timespec="seconds"),
        "total_minutes": round((datetime.now(UTC) - started).total_seconds() / 60, 1),
        "statistics": (
            "one run each; peak MB = max of VmHWM and VmRSS (MiB) sampled every "
            f"{SAMPLE_INTERVAL_S} s and at the end; long-lived processes' VmHWM reset at "
            "each run's start"
        ),
    }
    title = f"s3-parallel-put benchmark ({label})"
    markdown = render_flink(title, info, settings, runs, len(local))
    data = {"machine": info, "settings": settings, "runs": [asdict(run) for run in runs]}
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    paths = write_results(results, f"{stamp}-{label}", f"latest-{label}", markdown, data, False)
    print("\n" + markdown)
    log("wrote " + ", ".join(shown(p) for p in paths))
    failed = [run for run in runs if run.problem]
    for run in failed:
        print(f"!!! FAILED: {run.runner} {run.mode}: {run.problem}", file=sys.stderr)
    return 1 if failed else 0


def _mib(memory: list[dict[str, int]], name: str) -> str:
    """The TaskManagers' ``name`` of their memory configuration, in MiB."""
    return " / ".join(sorted({f"{tm[name] // MIB:,}" for tm in memory}))


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_runner(setting: Setting, runner: str, label: str) -> list[FlinkRun]:
    """The upload and the no-op of one runner, into a bucket of its own."""
    target = Target(setting.endpoint, f"bench-{label}-{runner}", PREFIX)
    make_bucket(setting.client, target.bucket)
    runs = []
    before: dict[str, Remote] | None = None
    for mode in MODES:
        argv = ours().argv(mode, setting.source, target)
        if runner == "flink":
            shared_temp = str(setting.cluster.shared / "tmp")
            argv += [*setting.cluster.beam_args(), "--temp_location", shared_temp]
        run = FlinkRun(runner, mode.value, argv)
        runs.append(run)
        if mode is Mode.NOOP and before is None:
            run.skipped = "the upload before it failed"
            log(f"  {runner} {mode.value}: skipped, {run.skipped}")
            continue
        if mode is Mode.NOOP:
            time.sleep(NOOP_SETTLE_S)
        measure(setting, run, mode, runner == "flink")
        remote = list_prefix(setting.client, target)
        if not run.problem:
            run.problem, run.checked = check_sync(
                setting.local, remote, setting.source, True, before
            )
        if not run.problem:
            before = remote
        log(_line(run))
    return runs


def measure(setting: Setting, run: FlinkRun, mode: Mode, on_cluster: bool) -> None:
    """Run ``run.command``, sampling the client's session and (on the cluster) the
    TaskManager hosts' processes."""
    hosts = {h.hostname: h.anchor_pid for h in setting.cluster.hosts} if on_cluster else {}
    run.load_before = [round(x, 2) for x in os.getloadavg()]
    with ProcessWatch(hosts, SAMPLE_INTERVAL_S) as watch:
        measured = run_measured(
            run.command,
            setting.env,
            setting.logs / f"{run.runner}-{run.mode}",
            setting.timeout_s,
            REPO,
            on_start=watch.follow_session,
        )
    run.load_after = [round(x, 2) for x in os.getloadavg()]
    run.wall_s, run.cpu_s, run.rss_mb = measured.wall_s, measured.cpu_s, measured.rss_mb
    run.returncode = measured.returncode
    run.processes = sorted(watch.peaks.values(), key=lambda p: (p.host, p.role, p.pid))
    run.problem = check_run("ours", mode, measured, len(setting.local))
    run.stderr_tail = measured.stderr_tail() if run.problem else ""


def _line(run: FlinkRun) -> str:
    jvms = ", ".join(f"{mb:.0f}" for host in ("tm1", "tm2") for mb in run.peaks(host, JVM))
    workers = ", ".join(f"{mb:.0f}" for host in ("tm1", "tm2") for mb in run.peaks(host, WORKER))
    return (
        f"  {run.runner:5} {run.mode:6}: {run.wall_s:7.2f} s wall, client "
        f"{_mb(run.peaks(CLIENT, 'client'))} MB, TaskManager JVMs [{jvms}] MB, "
        f"SDK workers [{workers}] MB" + (f"  FAILED: {run.problem}" if run.problem else "")
    )


def _mb(values: list[float]) -> str:
    return " / ".join(f"{value:,.0f}" for value in values) or NA


RUN_HEADER = (
    "| runner | run | wall s | files/s | client CPU s | client MB | job server JVM MB "
    "| TaskManager JVM MB (tm1 / tm2) | SDK worker MB (tm1 / tm2) "
    "| load 1 min before / after | verified |"
)
RUN_RULE = "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|"
PROCESS_HEADER = "| runner | run | host | role | pid | VmHWM MB | largest VmRSS MB | samples |"
PROCESS_RULE = "|---|---|---|---|--:|--:|--:|--:|"


def render_flink(
    title: str, info: dict[str, Any], settings: dict[str, Any], runs: list[FlinkRun], files: int
) -> str:
    """The markdown report: a row per run, then every process sampled."""
    lines = ["## Runs", "", RUN_HEADER, RUN_RULE]
    lines += [_run_row(run, files) for run in runs]
    lines += ["", "## Processes sampled", "", PROCESS_HEADER, PROCESS_RULE]
    for run in runs:
        lines += [
            f"| {run.runner} | {run.mode} | {p.host} | {p.role} | {p.pid} "
            f"| {p.vmhwm_kib / 1024:,.0f} | {p.vmrss_max_kib / 1024:,.0f} | {p.samples} |"
            for p in run.processes
            if not p.role.startswith("other")
        ]
    return header(title, info, settings) + "\n".join(lines) + "\n"


def _run_row(run: FlinkRun, files: int) -> str:
    if run.skipped:
        return f"| {run.runner} | {run.mode} | {NA} | | | | | | | | skipped: {run.skipped} |"
    on_cluster = run.runner == "flink"
    per_tm = [_mb(run.peaks(host, role)) for role in (JVM, WORKER) for host in ("tm1", "tm2")]
    verified = f"**FAILED**: {run.problem}" if run.problem else run.checked
    cells = [
        run.runner,
        run.mode,
        f"{run.wall_s:.2f}",
        f"{files / run.wall_s:,.0f}",
        f"{run.cpu_s:.2f}",
        _mb(run.peaks(CLIENT, "client")),
        _mb(run.peaks(CLIENT, "job server JVM")) if on_cluster else NA,
        f"{per_tm[0]} / {per_tm[1]}" if on_cluster else NA,
        f"{per_tm[2]} / {per_tm[3]}" if on_cluster else NA,
        f"{run.load_before[0]:.2f} / {run.load_after[0]:.2f}",
        verified.replace("|", "\\|"),
    ]
    return "| " + " | ".join(cells) + " |"
