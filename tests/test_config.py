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


_RUNNER_OPTION_CASES = {
    "a value after a space is the option's, not a SOURCE": (
        ["--runner", "FlinkRunner", "--number_of_execution_retries", "2", "src"],
        ["src"], {"number_of_execution_retries": "2"},
    ),
    "after the SOURCEs": (
        ["src", "--runner", "FlinkRunner", "--execution_retry_delay", "1500"],
        ["src"], {"execution_retry_delay": "1500"},
    ),
    "name=value, and a switch before another option": (
        ["--runner", "FlinkRunner", "--checkpointing_interval=1000", "--object_reuse",
         "--prefix", "p", "src", "more"],
        ["src", "more"], {"checkpointing_interval": "1000", "object_reuse": True},
    ),
    "given twice: a list, as Beam's append options take it": (
        ["--runner", "DataflowRunner", "--x", "1", "--x", "2", "src"],
        ["src"], {"x": ["1", "2"]},
    ),
    "PortableRunner, SparkRunner take them too": (
        ["--runner", "PortableRunner", "--job_endpoint", "embed", "--max_bundle_size", "5",
         "src"],
        ["src"], {"job_endpoint": "embed", "max_bundle_size": "5"},
    ),
    "SparkRunner": (
        ["--runner", "SparkRunner", "--storage_level", "MEMORY_ONLY", "src"],
        ["src"], {"storage_level": "MEMORY_ONLY"},
    ),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "sources", "passed"), list(_RUNNER_OPTION_CASES.values()),
                         ids=list(_RUNNER_OPTION_CASES))  # fmt: skip
def test_options_neither_knows_pass_on_to_a_remote_runner(
    argv: list[str], sources: list[str], passed: dict[str, Any]
) -> None:
    args, beam = arguments.parse(["--bucket", "bkt", *argv])

    assert args.sources == sources
    assert {key: beam[key] for key in passed} == passed


def test_a_passed_option_reaches_what_the_runner_hands_on() -> None:
    """The options a portable runner sends to its job service: Beam's own reading of the
    run's options, keeping what it does not know (the Flink job server knows these)."""
    from pipeline.plan import make_plan

    _, beam = arguments.parse(
        ["--bucket", "bkt", "src", "--runner", "FlinkRunner", "--number_of_execution_retries",
         "3", "--object_reuse"]
    )  # fmt: skip
    sent = make_plan(beam).options.get_all_options(retain_unknown_options=True)

    assert (sent["number_of_execution_retries"], sent["object_reuse"]) == ("3", True)


_KIND_CASES = {
    "FlinkRunner on a cluster": (["--runner", "FlinkRunner", "--flink_master", "jm:8081"], "FLINK"),
    "a shared job server for a cluster": (
        ["--runner", "FlinkRunner", "--flink_master", "jm:8081", "--job_endpoint", "js:8099"],
        "FLINK",
    ),
    "PortableRunner on a cluster's job server": (
        ["--runner", "PortableRunner", "--flink_master", "jm:8081", "--job_endpoint", "js:8099"],
        "FLINK",
    ),
    "PortableRunner, no cluster named": (
        ["--runner", "PortableRunner", "--job_endpoint", "js:8099"],
        "PORTABLE",
    ),
    "Beam's embedded Flink": (["--runner", "FlinkRunner", "--flink_master", "[local]"], "PORTABLE"),
    "Beam's test runner": (["--runner", "TestDirectRunner"], "IN_PROCESS"),
    "Beam's bundle-based direct runner": (["--runner", "BundleBasedDirectRunner"], "IN_PROCESS"),
}


@pytest.mark.parametrize(("argv", "kind"), list(_KIND_CASES.values()), ids=list(_KIND_CASES))
def test_where_a_job_runs_is_read_from_its_runner_options(argv: list[str], kind: str) -> None:
    """Flink's REST address (progress, cancel, failover) is known whichever job server runs
    the job: the one FlinkRunner starts, or a shared one at --job_endpoint. Beam's test
    and bundle-based direct runners run in this process."""
    from pipeline.plan import make_plan

    _, beam = arguments.parse(["--bucket", "bkt", "src", *argv])
    plan = make_plan(beam)

    assert plan.runner.name == kind
    assert plan.flink_master == ("jm:8081" if kind == "FLINK" else None)


_REFUSED_CASES = {
    "the local runner": (
        ["--number_of_execution_retries", "2"], "--number_of_execution_retries (options that"
    ),
    "FnApiRunner": (["--runner", "FnApiRunner", "--object_reuse"], "--object_reuse (options"),
    "DirectRunner in processes": (
        ["--runner", "DirectRunner", "--direct_running_mode", "multi_processing", "--x=1"],
        "--x=1 (options",
    ),
    "a slip in one of ours": (
        ["--runner", "FlinkRunner", "--bukcet", "b2"], "--bukcet (did you mean --bucket?)"
    ),
    "another slip": (
        ["--runner", "FlinkRunner", "--concurency", "4"],
        "--concurency (did you mean --concurrency?)",
    ),
    "ours spelt the runner's way": (
        ["--runner", "FlinkRunner", "--multipart_treshold", "5MiB"],
        "--multipart_treshold (did you mean --multipart-threshold?)",
    ),
    "a slip on the local runner": (["--bukcet", "b2"], "--bukcet (did you mean --bucket?)"),
    "a prefix of ours is no abbreviation": (
        ["--runner", "FlinkRunner", "--buck", "b2"], "--buck (did you mean --bucket?)"
    ),
    "a dashed name is this tool's style": (
        ["--runner", "FlinkRunner", "--number-of-retries", "2"], "--number-of-retries"
    ),
    "a single dash": (["--runner", "FlinkRunner", "-x"], "-x"),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "named"), list(_REFUSED_CASES.values()),
                         ids=list(_REFUSED_CASES))  # fmt: skip
def test_an_unknown_option_is_a_usage_error_unless_a_remote_runner_takes_it(
    argv: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        arguments.parse(["--bucket", "bkt", *argv, "src"])

    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"s3-parallel-put: error: unrecognized arguments: {named}"), err
