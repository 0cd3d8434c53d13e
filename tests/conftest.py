"""Fixtures: one real SeaweedFS S3 server per test session, a fresh bucket per test."""

from __future__ import annotations

import atexit
import contextlib
import gc
import itertools
import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
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
from pipeline import cli
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


def assert_usage_error(result: CliResult, *words: str) -> None:
    """Bad usage or configuration: exit code 2 and one line on stderr that says ``words``,
    no traceback."""
    assert result.code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


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


UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers there


def offline_env() -> dict[str, str]:
    """This process's environment with made-up credentials, no AWS profile or config file:
    what the CLI sees when no server is asked anything."""
    env = dict(os.environ)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        env.pop(name, None)
    env.update(
        AWS_ACCESS_KEY_ID="offline-key",
        AWS_SECRET_ACCESS_KEY="offline-secret",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


_LoggerState = tuple[int, list[logging.Handler], list[Any], bool, bool]


def _logger_states() -> dict[str, _LoggerState]:
    loggers = {"": logging.getLogger(), **logging.Logger.manager.loggerDict}
    return {
        name: (logger.level, logger.handlers[:], logger.filters[:], logger.propagate,
               logger.disabled)
        for name, logger in loggers.items()
        if isinstance(logger, logging.Logger)
    }  # fmt: skip


def _handlers(states: dict[str, _LoggerState]) -> set[logging.Handler]:
    return {handler for state in states.values() for handler in state[1]}


@contextlib.contextmanager
def _logging_put_back() -> Iterator[None]:
    """The loggers as they were: handlers, filters, levels. Those made meanwhile (by
    imports) are set back to a new logger's state, but for the NullHandler that a library
    adds to its own; a handler no logger keeps is closed (a log file)."""
    before = _logger_states()
    try:
        yield
    finally:
        after = _logger_states()
        for name, (_, handlers, *_) in after.items():
            nulls: list[logging.Handler] = [
                h for h in handlers if isinstance(h, logging.NullHandler)
            ]
            logger = logging.getLogger(name)
            state = before.get(name, (logging.NOTSET, nulls, [], True, False))
            logger.level, kept, filters, logger.propagate, logger.disabled = state
            logger.handlers[:], logger.filters[:] = kept, filters
        for handler in _handlers(after) - _handlers(_logger_states()):
            handler.close()


@contextlib.contextmanager
def _exit_handlers_run() -> Iterator[None]:
    """What the block registers with ``atexit`` runs at its end, as at a process's exit."""
    registered: list[Callable[[], object]] = []
    register = atexit.register

    def record(function: Callable[..., object], *args: Any, **kwargs: Any) -> Callable[..., object]:
        registered.append(lambda: function(*args, **kwargs))
        return function

    atexit.register = record  # type: ignore[assignment]
    try:
        yield
    finally:
        atexit.register = register  # type: ignore[assignment]
        for function in reversed(registered):
            function()


@contextlib.contextmanager
def _process_state_put_back(env: dict[str, str]) -> Iterator[None]:
    """The block runs with the environment ``env`` in REPO; then the environment, working
    directory, temporary directory, SIGINT and SIGTERM handlers, and the garbage
    collector's thresholds and freeze are as they were."""
    saved_env, cwd, temp = dict(os.environ), os.getcwd(), tempfile.tempdir
    signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(REPO)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(cwd)
        tempfile.tempdir = temp
        for sig, handler in signals.items():
            signal.signal(sig, handler)
        gc.set_threshold(*thresholds)
        if not frozen:
            gc.unfreeze()


@pytest.fixture
def run_main(capfd: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run the CLI's ``main()`` in this process, as ``run_cli`` runs it in a child: the
    same exit code and output, without a child's start and Beam's import (seconds). For
    the errors found before anything is uploaded; ``endpoint`` is where the CLI is sent
    (none answers by default), ``env`` its environment (``offline_env()`` by default)."""

    def run(
        *args: str, env: dict[str, str] | None = None, endpoint: str | None = UNREACHABLE
    ) -> CliResult:
        argv = [*(["--endpoint-url", endpoint] if endpoint else []), *args]
        capfd.readouterr()
        env = offline_env() if env is None else env
        # What main() changes in its process, put back, so that tests stay independent.
        with _logging_put_back(), _exit_handlers_run(), _process_state_put_back(env):
            try:
                code = cli.main(argv)
            except SystemExit as e:  # argparse's errors and --help
                code = e.code if isinstance(e.code, int) else 1
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def run_main_on_server(s3_server: LocalS3, run_main: Callable[..., CliResult]) -> Any:
    """``run_main`` against the test server, called as ``run_cli`` is."""

    def run(*args: str, env: dict[str, str] | None = None, endpoint: bool = True) -> CliResult:
        url = s3_server.endpoint_url if endpoint else None
        return run_main(*args, env=s3_server.env() if env is None else env, endpoint=url)

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


def last_byte_changed(data: bytes) -> bytes:
    """``data`` of the same size with its last byte different, whatever that byte is
    (random bytes may end in any value)."""
    return data[:-1] + bytes([data[-1] ^ 0xFF])


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
    Ctrl-C, or ``then`` is called with the CLI's process instead. The CLI runs in a
    session of its own, which is killed at the end: nothing it started outlives the call.
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
        cwd=REPO, text=True, start_new_session=True,
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
        # The CLI's session: the CLI, and whatever it started and left behind (the job
        # server JVM that Beam starts for FlinkRunner, a local runner's workers).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
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
