"""The pipeline as a library: UploadSources inside a user's own TestPipeline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from devsupport.locals3 import LocalS3
from pipeline import Action, UploadConfig, UploadSources
from pipeline.plan import DEFAULT_RUNNER
from tests.conftest import REPO, bucket_objects, fresh_bucket, make_tree, readme_code

FILES = {"index.html": b"<p>hi</p>", "css/site.css": b"p{}", "img/a.bin": b"\x00\x01"}


@pytest.fixture
def s3_env(s3_server: LocalS3, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials for the in-process workers, as the standard AWS chain finds them."""
    for name, value in s3_server.env().items():
        if name.startswith("AWS_"):
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize("spread", [False, True], ids=["streamed", "spread"])
def test_upload_sources_in_a_test_pipeline(
    s3_env: None, s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path, spread: bool
) -> None:
    tree = make_tree(tmp_path / "site", FILES)
    config = UploadConfig.for_bucket(bucket, s3_server.endpoint_url, prefix="web")

    with TestPipeline(runner=DEFAULT_RUNNER) as p:
        results = (
            p
            | beam.Create([str(tree), str(tmp_path / "missing")])
            | UploadSources(config, spread=spread)
        )
        assert_that(
            results | beam.Map(lambda r: (r.key, r.action, r.error.split(" ")[0])),
            equal_to(
                [(f"web/{name}", Action.UPLOADED, "") for name in FILES]
                + [("web", Action.FAILED, "SOURCE")]
            ),
        )

    assert bucket_objects(s3_client, bucket) == {f"web/{k}": v for k, v in FILES.items()}


def test_compose_example_prints_each_result(
    s3_server: LocalS3, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "site", FILES)
    command = [sys.executable, "examples/compose.py", "--endpoint-url", s3_server.endpoint_url]
    run = subprocess.run(
        [*command, "--bucket", bucket, str(tree)],
        env=s3_server.env(), capture_output=True, text=True, timeout=120, cwd=REPO,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip

    assert run.returncode == 0, run.stderr
    assert sorted(line.split()[1] for line in run.stdout.splitlines() if "(new)" in line) == sorted(
        FILES
    )
    assert "uploaded: 3" in run.stdout.splitlines()
    assert set(bucket_objects(s3_client, bucket)) == set(FILES)


def test_readme_library_snippet_as_written(
    s3_server: LocalS3, s3_client: Any, tmp_path: Path
) -> None:
    """The README's library snippet, run as written (bucket my-bucket, SOURCE ./public), the
    server named only by AWS_ENDPOINT_URL_S3 as the command line would take it: with no
    such bucket every file fails and the summary says so; with it, the files are there."""
    (tmp_path / "snippet.py").write_text(readme_code("As a library", "import apache_beam as beam"))
    make_tree(tmp_path / "public", FILES)
    env = s3_server.env()
    env["AWS_ENDPOINT_URL_S3"] = s3_server.endpoint_url

    def run_snippet() -> list[str]:
        proc = subprocess.run(
            [sys.executable, "snippet.py"],
            env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.splitlines()

    without_bucket = run_snippet()
    with fresh_bucket(s3_client, "my-bucket"):
        with_bucket = run_snippet()
        stored = bucket_objects(s3_client, "my-bucket")

    assert without_bucket[0] == "uploaded 0, skipped 0, failed 3"
    failed = sorted(line.split(": ")[1] for line in without_bucket[1:])
    assert failed == sorted(f"./public/{name}" for name in FILES), without_bucket
    assert all("NoSuchBucket" in line for line in without_bucket[1:]), without_bucket
    assert with_bucket == ["uploaded 3, skipped 0, failed 0"]
    assert stored == {f"site/{name}": data for name, data in FILES.items()}
