"""Fixtures: one real SeaweedFS S3 server per test session, a fresh bucket per test."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings

from devsupport.fakes3 import SERVER, FakeServer
from devsupport.locals3 import LocalS3
from pipeline.filters import FileFilter
from pipeline.records import FileResult, LocalFile, Root
from pipeline.shards import shard_subtree, split_root, walk_shard

REPO = Path(__file__).resolve().parent.parent
CLI_TIMEOUT_S = 300
_bucket_numbers = itertools.count(1)

# Hypothesis: each example of the property tests runs whole pipelines (a second or more),
# so no deadline, and no explain phase (it traces every line Beam runs, ten times
# slower). HYPOTHESIS_PROFILE=thorough runs many more examples (see ``example_count``);
# failures found are replayed first from .hypothesis/ on the next run.
HYPOTHESIS_PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
_PHASES = tuple(phase for phase in Phase if phase is not Phase.explain)
settings.register_profile("ci", deadline=None, phases=_PHASES, print_blob=True)
settings.register_profile("thorough", deadline=None, phases=_PHASES, print_blob=True)
settings.load_profile(HYPOTHESIS_PROFILE)


def example_count(ci: int, thorough: int) -> int:
    """How many examples a property test runs under the loaded Hypothesis profile."""
    return thorough if HYPOTHESIS_PROFILE == "thorough" else ci


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The user's cache directory for this session (the checksum cache), not the real one:
    inherited by every child process."""
    cache = tmp_path_factory.mktemp("cache")
    previous = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(cache)
    yield cache
    if previous is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = previous


FAKE_BUCKET = "fake-bucket"


@pytest.fixture
def fake_s3() -> Iterator[FakeServer]:
    """The in-memory S3 of ``devsupport.fakes3``, empty but for FAKE_BUCKET (no server)."""
    SERVER.reset()
    SERVER.create_bucket(FAKE_BUCKET)
    yield SERVER
    SERVER.reset()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[LocalS3]:
    with LocalS3() as server:
        yield server


@pytest.fixture(scope="session")
def s3_client(s3_server: LocalS3) -> Any:
    return s3_server.client()


@contextlib.contextmanager
def fresh_bucket(client: Any, name: str | None = None) -> Iterator[str]:
    """A new bucket on the test server (named ``name``, or a name of its own), emptied
    and removed afterwards."""
    name = name or f"test-{next(_bucket_numbers)}-{os.getpid()}"
    client.create_bucket(Bucket=name)
    try:
        yield name
    finally:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
        client.delete_bucket(Bucket=name)


@pytest.fixture
def bucket(s3_client: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    with fresh_bucket(s3_client) as name:
        yield name


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def summary(self) -> dict[str, Any]:
        """The --json summary: the last line of stdout."""
        return json.loads(self.stdout.strip().splitlines()[-1])


@pytest.fixture
def run_cli(s3_server: LocalS3) -> Any:
    """Run the real CLI in a child process against the test server."""

    def run(*args: str, env: dict[str, str] | None = None, endpoint: bool = True) -> CliResult:
        command = [sys.executable, "-m", "pipeline"]
        if endpoint:
            command += ["--endpoint-url", s3_server.endpoint_url]
        proc = subprocess.run(
            [*command, *args],
            env=env if env is not None else s3_server.env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def bucket_objects(client: Any, bucket: str) -> dict[str, bytes]:
    """Every key in ``bucket`` with its bytes."""
    objects = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return objects


def walk_tree(roots: tuple[Root, ...], prefix: str) -> Iterator[LocalFile | FileResult]:
    """Every file under ``roots`` as a LocalFile, and what could not be read as results,
    in sorted order, on this one machine: the shards the pipeline spreads, walked here."""
    selected = FileFilter()
    for root in roots:
        for subtree in split_root(root, whole=True, selected=selected):
            for shard in shard_subtree(subtree, prefix, False, selected):
                yield from walk_shard(shard, prefix, selected)


def readme_section(title: str) -> str:
    """The text of the README's ``### title`` section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"^### {title}\n(.*?)(?=^#)", text, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '### {title}' section"
    return match.group(1)


def readme_code(title: str, first_line: str) -> str:
    """The indented code block of the README's ``### title`` section that starts with
    ``first_line``, dedented: the code as a reader copies it."""
    lines = readme_section(title).splitlines()
    start = lines.index(f"    {first_line}")
    block = []
    for line in lines[start:]:
        if line and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block).rstrip() + "\n")


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def run_on_terminal(
    args: list[str],
    env: dict[str, str],
    timeout: float = CLI_TIMEOUT_S,
    interrupt_when: Callable[[str], bool] | None = None,
    then: Callable[[subprocess.Popen[str]], None] | None = None,
) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (so it shows its progress bar);
    returns the exit code, stdout, and everything the terminal received.

    ``interrupt_when``: a condition on what the terminal received so far, polled (for at
    most ``timeout``) after the start; once it holds, the CLI gets a SIGINT, as from
    Ctrl-C, or ``then`` is called with the CLI's process instead.
    """
    import fcntl
    import pty
    import struct
    import termios
    import threading

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    screen = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed
                return
            if not chunk:
                return
            screen.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        env=env, stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL,
        cwd=REPO, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while interrupt_when is not None and proc.poll() is None:
            assert time.monotonic() < deadline, "the condition to interrupt never held"
            if interrupt_when(screen.decode(errors="replace")):
                if then is None:
                    proc.send_signal(signal.SIGINT)
                else:
                    then(proc)
                break
            time.sleep(0.05)
        stdout, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(follower)
        reader.join(timeout=10)
        os.close(leader)
    return proc.returncode, stdout, screen.decode(errors="replace")


_SERVER_FIXTURES = {"s3_server", "s3_client", "bucket", "run_cli", "worker_pool", "proxy"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tiers: a test that needs a real server, the Flink cluster or PyPI (``install``) is
    marked ``e2e``, so ``pytest -m "not e2e"`` runs the fast ones alone."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        slow = item.get_closest_marker("flink") or item.get_closest_marker("install")
        if fixtures & _SERVER_FIXTURES or slow:
            item.add_marker(pytest.mark.e2e)


def run_without_root_powers(args: list[str], env: dict[str, str]) -> CliResult:
    """The CLI as root without the capabilities that read any file (as a user would be)."""
    proc = subprocess.run(
        ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
         sys.executable, "-m", "pipeline", *args],
        env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, cwd=REPO,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return CliResult(proc.returncode, proc.stdout, proc.stderr)
