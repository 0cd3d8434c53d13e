"""Where requests go and what keys they make: a URL without a scheme, the AWS_ENDPOINT_URL
variables, a leading '/' in --prefix, the README's endpoint recipes."""

from __future__ import annotations

import json
import re
import shlex
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devsupport.locals3 import LocalS3
from tests.conftest import assert_usage_error, bucket_objects, make_tree, readme_section

TREE = {"a.txt": b"a", "b/c.txt": b"c"}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "src", TREE)


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A URL nothing answers at: the port is bound, not listening, so connections fail."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def server_env(s3_server: LocalS3, **variables: str) -> dict[str, str]:
    """The test server's credentials, and only the endpoint variables given."""
    env = s3_server.env()
    env.pop("AWS_ENDPOINT_URL_S3", None)
    env.pop("AWS_ENDPOINT_URL", None)
    env.update(variables)
    return env


def test_endpoint_without_a_scheme(
    run_cli: Any,
    run_main_on_server: Any,
    s3_client: Any,
    bucket: str,
    tree: Path,
    s3_server: LocalS3,
) -> None:
    netloc = s3_server.endpoint_url.removeprefix("http://")
    env = server_env(s3_server)
    flag = run_main_on_server(
        "--bucket", bucket, "--endpoint-url", netloc, str(tree), endpoint=False, env=env
    )
    variable = run_main_on_server(
        "--bucket", bucket, str(tree),
        endpoint=False, env=server_env(s3_server, AWS_ENDPOINT_URL_S3=netloc),
    )  # fmt: skip

    assert_usage_error(flag, "--endpoint-url", "http://", "--insecure")
    assert_usage_error(variable, "AWS_ENDPOINT_URL_S3", "http://", "--insecure")
    assert bucket_objects(s3_client, bucket) == {}

    insecure = run_cli(
        "--bucket", bucket, "--endpoint-url", netloc, "--insecure", str(tree),
        endpoint=False, env=env,
    )  # fmt: skip
    assert insecure.code == 0, insecure.stderr
    assert bucket_objects(s3_client, bucket) == TREE


@pytest.mark.parametrize(
    "variables",
    [
        {"AWS_ENDPOINT_URL_S3": "server"},
        {"AWS_ENDPOINT_URL": "server"},
        {"AWS_ENDPOINT_URL_S3": "server", "AWS_ENDPOINT_URL": "dead"},
    ],
    ids=["s3-variable", "generic-variable", "s3-variable-first"],
)
def test_endpoint_from_the_environment(
    run_cli: Any,
    s3_client: Any,
    bucket: str,
    tree: Path,
    s3_server: LocalS3,
    dead_url: str,
    variables: dict[str, str],
) -> None:
    urls = {"server": s3_server.endpoint_url, "dead": dead_url}
    env = server_env(s3_server, **{name: urls[which] for name, which in variables.items()})

    result = run_cli("--bucket", bucket, "--json", str(tree), endpoint=False, env=env)

    assert result.code == 0, result.stderr
    assert result.summary["uploaded"] == 2
    assert bucket_objects(s3_client, bucket) == TREE


def test_endpoint_url_wins_over_the_variables(
    run_cli: Any,
    run_main_on_server: Any,
    s3_client: Any,
    bucket: str,
    tree: Path,
    s3_server: LocalS3,
    dead_url: str,
) -> None:
    env = server_env(s3_server, AWS_ENDPOINT_URL_S3=dead_url, AWS_ENDPOINT_URL=dead_url)

    without = run_main_on_server("--bucket", bucket, str(tree), endpoint=False, env=env)
    with_flag = run_cli("--bucket", bucket, "--json", str(tree), env=env)

    assert_usage_error(without, "cannot reach", dead_url)
    assert with_flag.code == 0, with_flag.stderr
    assert with_flag.summary["uploaded"] == 2
    assert bucket_objects(s3_client, bucket) == TREE


@pytest.mark.parametrize("prefix", ["/lead", "//lead/"])
def test_leading_slashes_of_the_prefix(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path, tmp_path: Path, prefix: str
) -> None:
    report = tmp_path / "run.jsonl"

    told = run_cli("--bucket", bucket, "--prefix", prefix, "--report", str(report), str(tree))
    quiet = run_cli("--bucket", bucket, "--prefix", prefix, "-q", "--put", "stupid", str(tree))

    assert told.code == 0, told.stderr
    warnings = [line for line in told.stderr.splitlines() if "--prefix" in line]
    assert len(warnings) == 1, told.stderr
    assert warnings[0].startswith("WARNING") and repr(prefix) in warnings[0]
    assert quiet.code == 0, quiet.stderr
    assert "--prefix" not in quiet.stderr
    keys = sorted(json.loads(line)["key"] for line in report.read_text().splitlines())
    assert keys == ["lead/a.txt", "lead/b/c.txt"]
    assert bucket_objects(s3_client, bucket) == {"lead/a.txt": b"a", "lead/b/c.txt": b"c"}


def test_readme_endpoint_recipes(
    run_cli: Any, s3_client: Any, bucket: str, tree: Path, s3_server: LocalS3
) -> None:
    """The README's commands for a server at HOST:PORT, run against SeaweedFS."""
    netloc = s3_server.endpoint_url.removeprefix("http://")
    recipes = [
        re.sub(r"HOST:\w+", netloc, line)
        .replace("my-bucket", bucket)
        .replace("./public", str(tree))
        for line in readme_section("Endpoints").splitlines()
        if line.startswith("    ") and "s3-parallel-put" in line and "HOST:" in line
    ]
    assert len(recipes) >= 3, recipes  # MinIO, Ceph RGW / SeaweedFS, the variable

    for recipe in recipes:
        words = shlex.split(recipe, comments=True)
        command = words.index("s3-parallel-put")
        variables = dict(word.split("=", 1) for word in words[:command])
        env = server_env(s3_server, **variables)
        result = run_cli(*words[command + 1 :], "--put", "stupid", endpoint=False, env=env)
        assert result.code == 0, (recipe, result.stderr)
        assert bucket_objects(s3_client, bucket) == TREE
