"""The three uploaders and the command line each runs with, per kind of case."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

INSTALL_HINT = "pip install -r bench/requirements.txt"


class Mode(Enum):
    """What a run does: upload everything, re-sync an unchanged tree, or only plan."""

    UPLOAD = "upload"
    NOOP = "noop"
    DRY_RUN = "dry-run"


@dataclass(frozen=True)
class Target:
    """Where a tool uploads: endpoint, bucket and key prefix (no trailing slash)."""

    endpoint: str
    bucket: str
    prefix: str

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}/"


@dataclass(frozen=True)
class Tool:
    """An uploader: its name, how to call it and how to ask its version."""

    name: str
    argv: Callable[[Mode, Path, Target], list[str]]
    version_argv: list[str]


def find_executable(name: str) -> str:
    """``name`` next to this Python (the venv's bin), else on PATH; exit if absent."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"bench: error: {name} not found; {INSTALL_HINT}")
    return found


def ours() -> Tool:
    base = [sys.executable, "-m", "pipeline"]

    def argv(mode: Mode, source: Path, target: Target) -> list[str]:
        where = ["--bucket", target.bucket, "--prefix", target.prefix]
        where += ["--endpoint-url", target.endpoint, "--quiet", "--json"]
        how = {
            Mode.UPLOAD: ["--put", "stupid"],
            Mode.NOOP: [],  # the default --put update
            Mode.DRY_RUN: ["--dry-run"],
        }[mode]
        return [*base, *where, *how, str(source)]

    return Tool("ours", argv, [*base, "--version"])


def s5cmd() -> Tool:
    exe = find_executable("s5cmd")

    def argv(mode: Mode, source: Path, target: Target) -> list[str]:
        pattern = f"{source}/*"
        if mode is Mode.NOOP:
            return [exe, "--endpoint-url", target.endpoint, "sync", pattern, target.url]
        if mode is Mode.UPLOAD:
            return [
                *[exe, "--endpoint-url", target.endpoint, "--numworkers", "256"],
                *["cp", pattern, target.url],
            ]
        raise ValueError(f"s5cmd has no {mode.value} case here")

    return Tool("s5cmd", argv, [exe, "version"])


def aws() -> Tool:
    exe = find_executable("aws")

    def argv(mode: Mode, source: Path, target: Target) -> list[str]:
        base = [exe, "--endpoint-url", target.endpoint, "s3"]
        if mode is Mode.NOOP:
            return [*base, "sync", "--only-show-errors", str(source), target.url]
        if mode is Mode.UPLOAD:
            return [*base, "cp", "--recursive", "--only-show-errors", str(source), target.url]
        raise ValueError(f"aws has no {mode.value} case here")

    return Tool("aws", argv, [exe, "--version"])


def all_tools() -> dict[str, Tool]:
    """Every tool by name; exits with one line if a peer is not installed."""
    return {tool.name: tool for tool in (ours(), s5cmd(), aws())}


def version_of(tool: Tool, env: dict[str, str], cwd: Path) -> str:
    """The first line the tool prints for its version (stdout or stderr)."""
    done = subprocess.run(
        tool.version_argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return text[0] if text else f"unknown (exit {done.returncode})"
