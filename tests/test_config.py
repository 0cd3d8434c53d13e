"""Units: the endpoint, the run's settings, sizes, Beam's options and runner."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipeline import arguments, console
from pipeline.errors import UsageError
from pipeline.options import (
    TargetOptions,
    TransportOptions,
    UploadConfig,
    WalkKind,
    resolve_endpoint,
)
from pipeline.options.values import parse_size
from pipeline.plan import DEFAULT_RUNNER, pipeline_options


def test_endpoint_resolution() -> None:
    plain = resolve_endpoint("http://127.0.0.1:8333", "us-east-1", None, "bkt")
    assert (plain.scheme, plain.host, plain.port, plain.path_style) == (
        "http",
        "127.0.0.1",
        8333,
        True,
    )
    assert plain.path("bkt", "a b/é+%.txt") == "/bkt/a%20b/%C3%A9%2B%25.txt"
    assert resolve_endpoint("minio:9000", "r", False, "b").url == "http://minio:9000"
    assert resolve_endpoint("minio:9000", "r", True, "b").url == "https://minio:9000"
    with pytest.raises(UsageError, match=r"no scheme.*http://minio:9000.*--insecure"):
        resolve_endpoint("minio:9000", "r", None, "b")
    aws = resolve_endpoint(None, "eu-west-1", None, "my-bucket")
    assert aws.url == "https://s3.eu-west-1.amazonaws.com"
    assert aws.authority("my-bucket") == "my-bucket.s3.eu-west-1.amazonaws.com"
    assert aws.path("my-bucket", "k") == "/k"
    assert resolve_endpoint(None, "us-east-1", None, "My.Bucket").path_style
    with pytest.raises(UsageError, match="conflicts"):
        resolve_endpoint("https://h", "r", False, "b")
    with pytest.raises(UsageError, match="scheme"):
        resolve_endpoint("ftp://h", "r", None, "b")
    with pytest.raises(UsageError, match="credentials"):
        resolve_endpoint("http://user:pw@h", "r", None, "b")


def test_config_validation() -> None:
    endpoint = resolve_endpoint("http://h:1", "r", None, "bkt")
    with pytest.raises(UsageError):
        TransportOptions(concurrency=0)
    with pytest.raises(UsageError):
        TargetOptions(bucket="b", endpoint=endpoint)
    with pytest.raises(UsageError, match="--put copy and --walk s3"):
        UploadConfig.for_bucket("bkt", "http://h:1", walk=WalkKind.S3)
    with pytest.raises(TypeError, match="no option group"):
        UploadConfig.for_bucket("bkt", "http://h:1", no_such_option=1)
    config = UploadConfig.for_bucket("bkt", "http://h:1", prefix="p/", concurrency=4)
    assert (config.target.prefix, config.transport.concurrency) == ("p/", 4)


_TARGET_CASES = {
    "endpoint from AWS_ENDPOINT_URL_S3": (
        {"AWS_ENDPOINT_URL_S3": "http://127.0.0.1:8333", "AWS_ENDPOINT_URL": "http://dead:1"},
        [], {}, ("http://127.0.0.1:8333", "us-east-1"),
    ),
    "endpoint from AWS_ENDPOINT_URL": (
        {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000"}, [], {},
        ("http://127.0.0.1:9000", "us-east-1"),
    ),
    "the given endpoint wins": (
        {"AWS_ENDPOINT_URL_S3": "http://dead:1"},
        ["--endpoint-url", "minio:9000", "--insecure"],
        {"endpoint_url": "minio:9000", "secure": False},
        ("http://minio:9000", "us-east-1"),
    ),
    "region from the environment": (
        {"AWS_DEFAULT_REGION": "eu-west-1"}, [], {},
        ("https://s3.eu-west-1.amazonaws.com", "eu-west-1"),
    ),
    "region of the profile": (
        {"AWS_CONFIG_FILE": "{config}"}, ["--profile", "far"], {"profile": "far"},
        ("https://s3.ap-south-1.amazonaws.com", "ap-south-1"),
    ),
    "the given region wins": (
        {"AWS_DEFAULT_REGION": "eu-west-1"}, ["--region", "us-west-2"], {"region": "us-west-2"},
        ("https://s3.us-west-2.amazonaws.com", "us-west-2"),
    ),
    "CA bundle from AWS_CA_BUNDLE, leading / of the prefix dropped": (
        {"AWS_CA_BUNDLE": "{config}", "AWS_ENDPOINT_URL_S3": "https://127.0.0.1:8443"},
        ["--prefix", "/site"], {"prefix": "/site"}, ("https://127.0.0.1:8443", "us-east-1"),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("env", "argv", "kwargs", "expected"), list(_TARGET_CASES.values()),
                         ids=list(_TARGET_CASES))  # fmt: skip
def test_library_and_command_line_find_the_same_target(
    env: dict[str, str],
    argv: list[str],
    kwargs: dict[str, Any],
    expected: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """UploadConfig.for_bucket reads the endpoint, region, profile and CA bundle where the
    command does (one code path), so a library user's AWS_ENDPOINT_URL_S3 is honoured."""
    config_file = tmp_path / "config"
    config_file.write_text("[profile far]\nregion = ap-south-1\n")
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(config=config_file))

    args, _ = arguments.parse(["--bucket", "bkt", *argv, "src"])
    from_command_line = TargetOptions.from_args(args)
    from_library = UploadConfig.for_bucket("bkt", **kwargs).target

    assert from_library == from_command_line
    assert (from_library.endpoint.url, from_library.endpoint.region) == expected
    assert from_library.prefix == ("site" if "prefix" in kwargs else "")
    assert from_library.ca_bundle == (str(config_file) if "AWS_CA_BUNDLE" in env else None)
    assert from_library.profile == kwargs.get("profile")


@pytest.mark.parametrize(
    ("text", "size"), [("8MiB", 8 * 1024**2), ("5m", 5 * 1024**2), ("100", 100), ("1GB", 1024**3)]
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_beam_options_pass_through_and_ours_stay_ours() -> None:
    args, beam = arguments.parse(
        [
            "--bucket", "bkt", "--region", "eu-west-1", "src",
            "--runner", "PortableRunner", "--job_endpoint", "embed",
            "--direct_num_workers", "2",
        ]
    )  # fmt: skip
    assert args.bucket == "bkt"
    assert args.sources == ["src"]
    assert args.region == "eu-west-1"
    assert beam == {"runner": "PortableRunner", "job_endpoint": "embed", "direct_num_workers": 2}


def test_default_runner_is_the_offline_local_one() -> None:
    from apache_beam.options.pipeline_options import StandardOptions

    assert DEFAULT_RUNNER.endswith(".FnApiRunner")
    assert pipeline_options({}).view_as(StandardOptions).runner == DEFAULT_RUNNER
    chosen = pipeline_options({"runner": "PortableRunner"})
    assert chosen.view_as(StandardOptions).runner == "PortableRunner"


def test_help_says_first_that_it_syncs_and_mirrors_with_delete() -> None:
    text = arguments.help_parser().format_help()
    description = text[text.index("Upload trees") : text.index("options:")]

    assert "syncs a tree" in description
    assert "With --delete it mirrors the tree" in description
    assert "--dry-run" in description


@pytest.mark.parametrize(
    ("options", "shown"),
    [([], True), (["-v"], False), (["-v", "--log-filename", "run.log"], True), (["-q"], False)],
)
def test_the_bar_shows_unless_other_output_goes_to_the_terminal(
    monkeypatch: pytest.MonkeyPatch, options: list[str], shown: bool
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    args, _ = arguments.parse(["--bucket", "b", *options, "src"])

    assert console.show_progress(args) is shown


def test_version_names_the_tool_beam_awscrt_and_python() -> None:
    import platform
    import subprocess
    import sys
    from importlib import metadata

    import pipeline

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "pipeline", "--version"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert proc.returncode == 0
    assert proc.stdout.split() == [
        f"s3-parallel-put/{pipeline.__version__}",
        f"apache-beam/{metadata.version('apache-beam')}",
        f"awscrt/{metadata.version('awscrt')}",
        f"Python/{platform.python_version()}",
        f"{platform.system()}/{platform.release()}",
    ]
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines()}
    assert "apache_beam" not in imported  # read from the metadata, not imported
