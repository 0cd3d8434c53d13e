"""Bad usage and configuration: one clear line on stderr, exit code 2, nothing written.

The real commands in a child process, and the CLI's ``main()`` in this process
(``run_main_on_server``) for the errors that need the server's answer or that must leave
its bucket empty; the errors found before a server is asked are in tests/test_usage.py.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from tests.conftest import (
    CLI_TIMEOUT_S,
    REPO,
    CliResult,
    assert_usage_error,
    bucket_objects,
    make_tree,
)

SCRIPT = Path(sys.executable).parent / "s3-parallel-put"  # the console script pip made


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})


@pytest.mark.parametrize(
    ("command", "args", "words"),
    [
        # argparse's error, before Beam is imported
        ([sys.executable, "-m", "pipeline"], ["--prefx", "x"], ["unrecognized", "--prefx"]),
        # the bucket check's, through main()
        ([str(SCRIPT)], ["--bucket", "no-such-bucket-here"], ["does not exist"]),
        # Beam's options parsed with ours, Beam imported afresh (newer Beams log a warning
        # then), the check of --temp_location's
        (
            [sys.executable, "-m", "pipeline"],
            ["--direct_num_workers", "2", "--temp_location", "/no/such/dir"],
            ["--temp_location", "does not exist"],
        ),
    ],
    ids=["module", "script", "module-with-beam-options"],
)
def test_the_commands_say_bad_usage_in_one_line(
    s3_server: LocalS3,
    bucket: str,
    tree: Path,
    command: list[str],
    args: list[str],
    words: list[str],
) -> None:
    proc = subprocess.run(
        [*command, "--endpoint-url", s3_server.endpoint_url, "--bucket", bucket, *args,
         str(tree)],
        env=s3_server.env(), capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
        stdin=subprocess.DEVNULL, cwd=REPO,
    )  # fmt: skip
    assert_usage_error(CliResult(proc.returncode, proc.stdout, proc.stderr), *words)


def test_missing_bucket(run_main_on_server: Any, tree: Path) -> None:
    result = run_main_on_server("--bucket", "no-such-bucket-here", str(tree))
    assert_usage_error(result, "no-such-bucket-here", "does not exist")


@pytest.mark.parametrize("transport", ["crt", "boto3"])
def test_a_silent_endpoint_is_given_up_on_with_one_line(
    tree: Path, s3_server: LocalS3, transport: str
) -> None:
    # A server that accepts connections and never answers: the bucket check gives up
    # after PREFLIGHT_TIMEOUT_S (10 s, retries included), which its message names; it
    # used to wait for minutes, which the 40 s bound on the command catches.
    held: list[socket.socket] = []
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        port = sock.getsockname()[1]

        def accept() -> None:
            with contextlib.suppress(OSError):  # the socket closed: the test is over
                while True:
                    held.append(sock.accept()[0])

        acceptor = threading.Thread(target=accept, daemon=True)
        acceptor.start()
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pipeline", "--bucket", "bkt", "--endpoint-url",
                 f"http://127.0.0.1:{port}", "--transport", transport, str(tree)],
                env=s3_server.env(), capture_output=True, text=True, timeout=40,
                stdin=subprocess.DEVNULL, cwd=REPO,
            )  # fmt: skip
        finally:
            sock.shutdown(socket.SHUT_RDWR)
            for conn in held:
                conn.close()
    acceptor.join(5)

    assert held, "the tool never connected"
    result = CliResult(proc.returncode, proc.stdout, proc.stderr)
    assert_usage_error(
        result, f"cannot reach http://127.0.0.1:{port}: HEAD bucket bkt: no answer within 10 s"
    )


def test_wrong_credentials(
    run_main_on_server: Any, s3_client: Any, bucket: str, tree: Path, s3_server: LocalS3
) -> None:
    env = s3_server.env()
    env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret-0123456789"
    result = run_main_on_server("--bucket", bucket, str(tree), env=env)
    assert_usage_error(result, "denied")
    assert "wrong-secret" not in result.stderr + result.stdout
    assert bucket_objects(s3_client, bucket) == {}


def test_profile_from_a_credentials_file(
    run_cli: Any,
    run_main_on_server: Any,
    s3_client: Any,
    bucket: str,
    tree: Path,
    s3_server: LocalS3,
    tmp_path: Path,
) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        f"[uploader]\naws_access_key_id = {s3_server.access_key}\n"
        f"aws_secret_access_key = {s3_server.secret_key}\n"
    )
    env = s3_server.env()
    del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(credentials)

    uploaded = run_cli("--bucket", bucket, "--profile", "uploader", str(tree), env=env)
    missing = run_main_on_server("--bucket", bucket, "--profile", "nobody", str(tree), env=env)

    assert uploaded.code == 0, uploaded.stderr
    assert set(bucket_objects(s3_client, bucket)) == {"a.txt", "b/c.txt"}
    assert_usage_error(missing, "profile 'nobody' not found")


@pytest.mark.parametrize("prefix", ["../x", "a/./b", "site/..", "./"])
def test_a_prefix_with_dot_parts(
    run_main_on_server: Any, s3_client: Any, bucket: str, tree: Path, prefix: str
) -> None:
    result = run_main_on_server("--bucket", bucket, "--prefix", prefix, str(tree))
    assert_usage_error(result, "--prefix", "'.' or '..'")
    assert bucket_objects(s3_client, bucket) == {}
