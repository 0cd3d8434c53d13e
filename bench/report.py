"""Results: one row per (case, tool), markdown tables, machine facts, the result files."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.chart import write_chart

MIB = 1024 * 1024
BASELINE = "s5cmd"
NA = "-"
HEADER = (
    "| tool | wall s (min) | files/s | MB/s | CPU s | peak RSS MB "
    "| wall ratio to s5cmd | CPU ratio to s5cmd | verified |"
)
RULE = "|---|--:|--:|--:|--:|--:|--:|--:|---|"


@dataclass
class Run:
    """One measured repeat."""

    wall_s: float
    cpu_s: float
    rss_mb: float
    returncode: int
    problem: str = ""
    stderr_tail: str = ""


@dataclass
class Row:
    """One tool in one case: its repeats and what the checks found."""

    tool: str
    command: list[str]
    runs: list[Run] = field(default_factory=list)
    checked: str = ""  # what a passed check covered
    check_problem: str = ""  # why populating or the check after the last run failed
    skipped: str = ""  # why the tool was not run in this case (not a failure)

    @property
    def failure(self) -> str:
        """'' if every run and every check passed, else why not."""
        bad = [run for run in self.runs if run.problem]
        parts = [self.check_problem] if self.check_problem else []
        if bad:
            parts.append(f"{len(bad)} of {len(self.runs)} runs failed: {bad[0].problem}")
        return "; ".join(parts)

    @property
    def failed(self) -> bool:
        return bool(self.failure)

    @property
    def verified(self) -> str:
        if self.failed:
            return f"**FAILED**: {self.failure}"
        return f"skipped: {self.skipped}" if self.skipped else self.checked

    @property
    def counted(self) -> list[Run]:
        """The runs the statistics use: the good ones, or all if none was good."""
        return [run for run in self.runs if not run.problem] or self.runs

    @property
    def wall_s(self) -> float:
        return min(run.wall_s for run in self.counted)

    @property
    def cpu_s(self) -> float:
        return min(run.cpu_s for run in self.counted)

    @property
    def rss_mb(self) -> float:
        return max(run.rss_mb for run in self.counted)


@dataclass
class CaseResult:
    """A case: what it moved and each tool's row."""

    key: str
    title: str
    mode: str
    files: int
    bytes: int
    rows: list[Row] = field(default_factory=list)


def case_table(case: CaseResult) -> str:
    """The markdown section of one case."""
    base = next((r for r in case.rows if r.tool == BASELINE and r.runs), None)
    lines = [f"### {case.key}: {case.title}", "", HEADER, RULE]
    lines += [_row_line(case, row, base) for row in case.rows if row.runs]
    lines += [
        f"| {row.tool} | {NA} | | | | | | | {row.verified} |" for row in case.rows if not row.runs
    ]
    return "\n".join(lines) + "\n"


def _row_line(case: CaseResult, row: Row, base: Row | None) -> str:
    moves_bytes = case.mode == "upload"
    cells = [
        row.tool,
        f"{row.wall_s:.2f}",
        _rate(case.files / row.wall_s),
        _rate(case.bytes / MIB / row.wall_s) if moves_bytes else NA,
        f"{row.cpu_s:.2f}",
        f"{row.rss_mb:,.0f}",
        NA if row.failed else _ratio(row.wall_s, base.wall_s if base else None),
        NA if row.failed else _ratio(row.cpu_s, base.cpu_s if base else None),
        row.verified.replace("|", "\\|"),
    ]
    return "| " + " | ".join(cells) + " |"


def _rate(value: float) -> str:
    """Three significant digits or more: 0.452, 45.2, 4,520."""
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _ratio(value: float, baseline: float | None) -> str:
    if not baseline:
        return NA
    return f"{value / baseline:.2f}x"


def machine_info(versions: dict[str, str], repo: Path) -> dict[str, Any]:
    """Facts that make a result comparable: cores, memory, versions, load, commit."""
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _git(repo, "rev-parse", "--short", "HEAD"),
        "pipeline_dirty": bool(_git(repo, "status", "--porcelain", "--", "pipeline")),
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(repo: Path, *args: str) -> str:
    git = shutil.which("git")
    if git is None:
        return ""
    done = subprocess.run(
        [git, "--no-optional-locks", *args], cwd=repo, capture_output=True, text=True
    )
    return done.stdout.strip()


def render(
    title: str, info: dict[str, Any], settings: dict[str, Any], cases: list[CaseResult]
) -> str:
    """The whole markdown report."""
    return header(title, info, settings) + "\n".join(case_table(case) for case in cases)


def header(title: str, info: dict[str, Any], settings: dict[str, Any]) -> str:
    """The title of a report and a list of the machine's facts and the run's settings."""
    lines = [f"# {title}", ""]
    lines += [f"- {name}: {value}" for name, value in info.items() if name != "versions"]
    lines += [f"- version of {name}: {value}" for name, value in info["versions"].items()]
    lines += [f"- {name}: {value}" for name, value in settings.items()]
    lines.append("")
    return "\n".join(lines) + "\n"


def write_results(
    directory: Path,
    stem: str,
    latest: str,
    markdown: str,
    data: dict[str, Any],
    chart: bool = True,
) -> list[Path]:
    """``stem``.md/.json/.png plus ``latest``.md/.json/.png copies; the paths written.

    The .png chart is left out without ``chart``, and (with a warning) when matplotlib
    is not installed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, indent=2, default=str) + "\n"
    written = []
    for name in (stem, latest):
        for suffix, body in ((".md", markdown), (".json", text)):
            path = directory / (name + suffix)
            path.write_text(body)
            written.append(path)
    if not chart:
        return written
    png = directory / (stem + ".png")
    try:
        drawn = write_chart(data, png)
    except Exception as error:  # a chart is a nicety: never lose the tables for it
        print(f"bench: warning: no chart, drawing it failed: {error!r}", file=sys.stderr)
        drawn = False
    if drawn:
        shutil.copyfile(png, directory / (latest + ".png"))
        written += [png, directory / (latest + ".png")]
    return written


def as_json(
    info: dict[str, Any], settings: dict[str, Any], cases: list[CaseResult]
) -> dict[str, Any]:
    """Everything measured, for the .json file: each row with its summary and its runs."""
    out = []
    for case in cases:
        data = asdict(case)
        for row, row_data in zip(case.rows, data["rows"], strict=True):
            row_data.update(verified=row.verified, failure=row.failure)
            if row.runs:
                row_data.update(wall_s_min=row.wall_s, cpu_s_min=row.cpu_s, rss_mb_max=row.rss_mb)
        out.append(data)
    return {"machine": info, "settings": settings, "cases": out}
