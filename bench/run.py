"""Benchmark s3-parallel-put against s5cmd and `aws s3` on a local SeaweedFS server.

    python -m bench.run [--quick] [--cases a,b,...] [--repeat N] [--results DIR]

Generates the source trees under bench/work/ (removed at the end), starts SeaweedFS on
loopback, runs every tool N times per case into its own bucket, checks what landed and
writes bench/results/<UTC time>-<quick|full>.md/.json/.png (and latest-<quick|full>.*).
See bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.checks import check_run
from bench.flinkcase import DEFAULT_FILES, FILES_PER_DIR, run_flink_case
from bench.measure import Measured, run_measured
from bench.paths import REPO, RESULTS, WORK, log, shown
from bench.report import CaseResult, Row, Run, as_json, machine_info, render, write_results
from bench.tools import (
    Mode,
    Target,
    Tool,
    all_tools,
    collect_versions,
    help_text,
    names_option,
)
from bench.verify import (
    NOOP_SETTLE_S,
    Remote,
    check_sync,
    empty_prefix,
    list_prefix,
    make_bucket,
    s3_client,
)
from bench.workloads import (
    KIB,
    MIB,
    EqualFiles,
    FlatDirs,
    OneFile,
    ScaleTree,
    SmallFiles,
    TreeSpec,
    ensure_tree,
    tree_listing,
    tree_totals,
)
from devsupport.locals3 import LocalS3

PREFIX = "data"
SCALE_PART = 100_000  # files in one part of the scale tree
ALL_TOOLS = ("ours", "s5cmd", "aws")


@dataclass(frozen=True)
class Case:
    """One workload: what to run, on which tree, with which tools.

    ``ours_options`` are added to ours' command line; ours is skipped (with a note in
    the table) while its ``--help`` does not name every ``--option`` among them.
    A no-op case starts from the bucket that the first of the ``reuses`` cases that ran
    earlier in this run left (the same tree, checked) instead of uploading it again.
    """

    key: str
    title: str
    mode: Mode
    tree: str
    subdir: str = ""
    tools: tuple[str, ...] = ALL_TOOLS
    md5_sample: bool = True
    ours_options: tuple[str, ...] = ()
    reuses: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    trees: dict[str, TreeSpec]
    cases: list[Case]


@dataclass
class Bench:
    """What every case needs: the server, a client, the tools and the settings."""

    endpoint: str
    client: Any
    env: dict[str, str]
    tools: dict[str, Tool]
    repeat: int
    timeout_s: float
    logs: Path
    # (case, tool) -> where that tool's copy of the case's tree is, complete and checked
    synced: dict[tuple[str, str], Target] = field(default_factory=dict)
    # tool -> its --help text (None if that failed), asked once per run
    helps: dict[str, str | None] = field(default_factory=dict)


def make_plan(quick: bool, scale_files: int) -> Plan:
    small = SmallFiles(top=10, sub=10, per_dir=20 if quick else 100)
    big = OneFile(size=128 * MIB if quick else 1024 * MIB)
    five = EqualFiles(count=40 if quick else 200, size=5 * MIB)
    trees: dict[str, TreeSpec] = {"small": small, "big": big, "five": five}
    n_small = small.top * small.sub * small.per_dir
    cases = [
        Case(
            "a",
            f"upload {n_small:,} files of 1-8 KiB ({small.top * small.sub} dirs, 2 levels)",
            Mode.UPLOAD,
            "small",
        ),
        Case("b", f"no-op re-sync of (a): {n_small:,} unchanged files", Mode.NOOP, "small"),
        Case("c", f"upload one {big.size // MIB:,} MiB file", Mode.UPLOAD, "big", md5_sample=False),
        Case("d", f"upload {five.count} files of 5 MiB", Mode.UPLOAD, "five"),
    ]
    if not quick:
        cases += scale_cases(trees, scale_files)
    cases += flat_cases(trees, quick)
    return Plan(trees, cases)


def scale_cases(trees: dict[str, TreeSpec], scale_files: int) -> list[Case]:
    """e1, e2 (full set only): a tree of ``scale_files`` files and a part of it."""
    scale = ScaleTree(parts=scale_files // SCALE_PART, max_size=1 * KIB)
    trees["scale"] = scale
    n_scale = scale.parts * scale.dirs * scale.per_dir
    part = scale.dirs * scale.per_dir
    return [
        Case(
            "e1",
            f"dry run of {n_scale:,} files of 0-1 KiB against an empty prefix",
            Mode.DRY_RUN,
            "scale",
            tools=("ours",),
        ),
        Case(
            "e2",
            f"upload {part:,} files of 0-1 KiB ({scale.dirs} dirs)",
            Mode.UPLOAD,
            "scale",
            subdir="p00",
            tools=("ours", "s5cmd"),
        ),
    ]


def flat_cases(trees: dict[str, TreeSpec], quick: bool) -> list[Case]:
    """f1-f3: many tiny files in many directories; upload, then two kinds of no-op."""
    flat = FlatDirs(dirs=50 if quick else 500, per_dir=100, max_size=4 * KIB)
    trees["flat"] = flat
    n_flat = flat.dirs * flat.per_dir
    compare = ("--compare", "size-mtime")
    return [
        Case("f1", f"upload {n_flat:,} files of 0-4 KiB ({flat.dirs} dirs)", Mode.UPLOAD, "flat"),
        Case(
            "f2",
            f"no-op re-sync of (f1): {n_flat:,} unchanged files",
            Mode.NOOP,
            "flat",
            reuses=("f1",),
        ),
        Case(
            "f3",
            f"no-op re-sync of (f1), ours with {' '.join(compare)}: {n_flat:,} unchanged files",
            Mode.NOOP,
            "flat",
            ours_options=compare,
            reuses=("f2", "f1"),
        ),
    ]


def select_cases(cases: list[Case], wanted: str | None) -> list[Case]:
    if not wanted:
        return cases
    keys = [case.key for case in cases]
    names: set[str] = set()
    for name in (n.strip() for n in wanted.split(",") if n.strip()):
        # a group: "e" means e1,e2 and "f" means f1,f2,f3
        group = {key for key in keys if key != name and key.rstrip("0123456789") == name}
        names |= group or {name}
    unknown = names - {case.key for case in cases}
    if unknown:
        known = ", ".join(case.key for case in cases)
        raise SystemExit(f"bench: error: unknown case(s) {sorted(unknown)}; this mode has {known}")
    return [case for case in cases if case.key in names]


def prepare_trees(plan: Plan, cases: list[Case]) -> dict[str, Path]:
    roots = {}
    for name in sorted({case.tree for case in cases}):
        root = WORK / "trees" / name
        started = time.perf_counter()
        if ensure_tree(root, plan.trees[name]):
            log(f"generated tree {name} in {time.perf_counter() - started:.1f} s")
        else:
            log(f"reusing tree {name}")
        roots[name] = root
    return roots


def run_case(bench: Bench, case: Case, source: Path) -> CaseResult:
    local = tree_listing(source) if case.mode is not Mode.DRY_RUN else None
    files, size = (len(local), sum(local.values())) if local is not None else tree_totals(source)
    result = CaseResult(case.key, case.title, case.mode.value, files, size)
    log(f"case {case.key}: {case.title} ({files:,} files, {size / MIB:,.1f} MiB)")
    targets: dict[str, Target] = {}
    reused: set[str] = set()
    rows = {}
    for name in case.tools:
        extra = case.ours_options if name == "ours" else ()
        earlier = [bench.synced[(key, name)] for key in case.reuses if (key, name) in bench.synced]
        if earlier:
            target = earlier[0]
            reused.add(name)
        else:
            target = Target(bench.endpoint, f"bench-{case.key}-{name}", PREFIX)
        rows[name] = Row(name, bench.tools[name].argv(case.mode, source, target, extra))
        rows[name].skipped = unsupported(bench, name, extra)
        if rows[name].skipped:
            log(f"  {case.key} {name:5}: skipped, {rows[name].skipped}")
            continue
        if name not in reused:
            make_bucket(bench.client, target.bucket)
        targets[name] = target
    result.rows = list(rows.values())
    before = {}
    if case.mode is Mode.NOOP:
        before = populate(bench, case, source, files, targets, reused, rows)
    for rep in range(bench.repeat):
        for name, target in targets.items():
            if not rows[name].check_problem:  # populated (or nothing to populate)
                measure_once(bench, case, rows[name], target, files, rep)
    for name, target in targets.items():
        row = rows[name]
        if row.runs and not row.runs[-1].problem:
            verify_row(bench, case, row, target, source, local, before.get(name))
        if local is not None and row.runs and not row.failed:
            bench.synced[(case.key, name)] = target
        elif name in reused:  # what that bucket holds now is not known: no later reuse
            bench.synced = {key: t for key, t in bench.synced.items() if t != target}
    return result


def unsupported(bench: Bench, tool: str, options: tuple[str, ...]) -> str:
    """Why ``tool`` cannot run with ``options`` (a ``--name`` its help does not name)."""
    wanted = [option for option in options if option.startswith("--")]
    if not wanted:
        return ""
    if tool not in bench.helps:
        bench.helps[tool] = help_text(bench.tools[tool], bench.env, REPO)
    help_ = bench.helps[tool]
    if help_ is None:
        return f"{tool} --help failed, so whether it supports {', '.join(wanted)} is unknown"
    missing = [option for option in wanted if not names_option(help_, option)]
    return f"{tool} does not support {', '.join(missing)} yet" if missing else ""


def populate(
    bench: Bench,
    case: Case,
    source: Path,
    files: int,
    targets: dict[str, Target],
    reused: set[str],
    rows: dict[str, Row],
) -> dict[str, dict[str, Remote]]:
    """For a no-op case: each tool uploads the tree once, untimed, unless its bucket of
    case ``reuses`` already holds it; what is there, by tool."""
    landed = {}
    for name, target in targets.items():
        if name in reused:
            log(f"  {case.key} {name:5}: reusing {target.url}, uploaded and checked before")
        else:
            argv = bench.tools[name].argv(Mode.UPLOAD, source, target)
            measured = run(bench, argv, f"{case.key}-{name}-populate")
            problem = check_run(name, Mode.UPLOAD, measured, files)
            if problem:
                rows[name].check_problem = f"populating: {problem}"
        landed[name] = list_prefix(bench.client, target)
    time.sleep(NOOP_SETTLE_S)
    return landed


def measure_once(bench: Bench, case: Case, row: Row, target: Target, files: int, rep: int) -> None:
    if case.mode is Mode.UPLOAD and rep > 0:
        empty_prefix(bench.client, target)
    measured = run(bench, row.command, f"{case.key}-{row.tool}-{rep}")
    problem = check_run(row.tool, case.mode, measured, files)
    tail = measured.stderr_tail() if problem else ""
    row.runs.append(
        Run(measured.wall_s, measured.cpu_s, measured.rss_mb, measured.returncode, problem, tail)
    )
    log(
        f"  {case.key} {row.tool:5} {rep + 1}/{bench.repeat}: {measured.wall_s:7.2f} s wall "
        f"{measured.cpu_s:7.2f} CPU s {measured.rss_mb:6.0f} MB"
        + (f"  FAILED: {problem}" if problem else "")
    )


def run(bench: Bench, argv: list[str], name: str) -> Measured:
    return run_measured(argv, bench.env, bench.logs / name, bench.timeout_s, REPO)


def verify_row(
    bench: Bench,
    case: Case,
    row: Row,
    target: Target,
    source: Path,
    local: dict[str, int] | None,
    before: dict[str, Remote] | None,
) -> None:
    remote = list_prefix(bench.client, target)
    if local is None:  # dry run
        if remote:
            row.check_problem = f"a dry run wrote {len(remote)} objects"
        else:
            row.checked = "ok: nothing written"
        return
    problem, checked = check_sync(local, remote, source, case.md5_sample, before)
    if problem:
        row.check_problem = problem
    else:
        row.checked = checked


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small workloads, about 6 minutes")
    parser.add_argument(
        "--cases",
        help="comma-separated cases: a,b,c,d,e1,e2,f1,f2,f3 (e = e1,e2; f = f1,f2,f3)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool and case (min wall)")
    parser.add_argument(
        "--scale-files",
        type=int,
        default=1_000_000,
        help="files in the dry-run tree of case e1, a multiple of 100,000 (default 1,000,000)",
    )
    parser.add_argument(
        "--flink200k",
        action="store_true",
        help="only case flink200k: a big tree on the test Flink cluster and on the local "
        "runner (needs root, Java 17, Maven; see bench/README.md)",
    )
    parser.add_argument(
        "--flink-files",
        type=int,
        default=DEFAULT_FILES,
        help="files in the tree of --flink200k, a multiple of 100 (default 200,000)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--keep-work", action="store_true", help="keep bench/work/ (trees)")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS,
        metavar="DIR",
        help="write the result files here (default bench/results/)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.scale_files < SCALE_PART or args.scale_files % SCALE_PART:
        parser.error("--scale-files must be a positive multiple of 100000")
    if args.flink200k and (args.quick or args.cases):
        parser.error("--flink200k runs its own case: not with --quick or --cases")
    if args.flink_files < FILES_PER_DIR or args.flink_files % FILES_PER_DIR:
        parser.error("--flink-files must be a positive multiple of 100")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.flink200k:
        try:
            return run_flink_case(args.flink_files, args.timeout, WORK, args.results)
        finally:
            if not args.keep_work:
                shutil.rmtree(WORK, ignore_errors=True)
    tools = all_tools()
    plan = make_plan(args.quick, args.scale_files)
    cases = select_cases(plan.cases, args.cases)
    started = datetime.now(UTC)
    try:
        info, results = measure_all(args, plan, cases, tools)
    finally:
        if not args.keep_work:
            shutil.rmtree(WORK, ignore_errors=True)
    publish(args, cases, started, info, results)
    return report_failures(results)


def measure_all(
    args: argparse.Namespace, plan: Plan, cases: list[Case], tools: dict[str, Tool]
) -> tuple[dict[str, Any], list[CaseResult]]:
    """Generate the trees, start the server, run every case; machine facts and results."""
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    roots = prepare_trees(plan, cases)
    with LocalS3() as s3:
        log(f"SeaweedFS S3 at {s3.endpoint_url}")
        env = s3.env()
        client = s3_client(s3.endpoint_url, s3.access_key, s3.secret_key, s3.region)
        info = machine_info(collect_versions(tools, env, REPO), REPO)
        bench = Bench(s3.endpoint_url, client, env, tools, args.repeat, args.timeout, logs)
        results = [run_case(bench, case, roots[case.tree] / case.subdir) for case in cases]
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    return info, results


def publish(
    args: argparse.Namespace,
    cases: list[Case],
    started: datetime,
    info: dict[str, Any],
    results: list[CaseResult],
) -> None:
    """Write the .md/.json result files and print the tables."""
    label = "quick" if args.quick else "full"
    settings = {
        "mode": label,
        "repeat": args.repeat,
        "cases": ",".join(case.key for case in cases),
        "started_utc": started.isoformat(timespec="seconds"),
        "total_minutes": round((datetime.now(UTC) - started).total_seconds() / 60, 1),
        "statistics": "wall = min over repeats; CPU s = min; peak RSS = max; MB = MiB",
    }
    markdown = render(f"s3-parallel-put benchmark ({label})", info, settings, results)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    data = as_json(info, settings, results)
    paths = write_results(args.results, f"{stamp}-{label}", f"latest-{label}", markdown, data)
    print("\n" + markdown)
    log("wrote " + ", ".join(shown(p) for p in paths))


def report_failures(results: list[CaseResult]) -> int:
    failed = [(case.key, row) for case in results for row in case.rows if row.failed]
    for key, row in failed:
        print(f"!!! FAILED: case {key}, {row.tool}: {row.failure}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        sys.exit(130)
