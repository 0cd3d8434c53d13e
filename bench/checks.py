"""Whether a run looks right from the outside: its exit, and ours' --json summary."""

from __future__ import annotations

import json

from bench.measure import Measured
from bench.tools import Mode


def check_run(tool: str, mode: Mode, measured: Measured, files: int) -> str:
    """'' if the run looks right from the outside, else why not."""
    if measured.timed_out:
        return "timed out"
    if measured.returncode != 0:
        return f"exit {measured.returncode}: {measured.stderr_last_line()}"
    if tool == "ours":
        return check_ours_summary(measured.stdout(), mode, files)
    return ""


def check_ours_summary(stdout: str, mode: Mode, files: int) -> str:
    """Our --json summary must show no failure and the expected counts."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        return "no --json summary on stdout"
    summary = json.loads(lines[-1])
    expected = {
        Mode.UPLOAD: {"failed": 0, "files": files, "uploaded": files},
        Mode.NOOP: {"failed": 0, "files": files, "uploaded": 0},
        Mode.DRY_RUN: {"failed": 0, "files": files, "would_upload": files},
    }[mode]
    wrong = {k: summary.get(k) for k, v in expected.items() if k in summary and summary[k] != v}
    if "failed" not in summary:
        wrong["failed"] = "missing"
    return f"summary says {wrong}, expected {expected}" if wrong else ""
