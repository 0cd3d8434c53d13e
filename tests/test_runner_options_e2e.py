"""An option for the runner that its job service would not get is refused before the job
is submitted, on a real job service (Beam's embedded one) and the test server: one line,
exit code 2, nothing uploaded. (On Flink, where the job service takes the runner's
options, a slip in one is refused too: ``test_flink_failover_e2e``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import bucket_objects, make_tree

_EMBEDDED = [
    "--runner",
    "PortableRunner",
    "--job_endpoint",
    "embed",
    "--environment_type",
    "LOOPBACK",
]


def test_an_option_the_job_service_would_drop_is_refused_and_nothing_runs(
    run_cli: Any, s3_client: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "src", {"a.txt": b"a", "b/c.txt": b"c"})

    refused = run_cli("--bucket", bucket, str(tree), *_EMBEDDED, "--checkpointing_interval", "1000")

    assert refused.code == 2, refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "s3-parallel-put: error: the job service of PortableRunner takes no option "
        "--checkpointing_interval, so the job would run without it; nothing was run "
        "(it takes no runner options)"
    ]
    assert refused.stdout == ""
    assert bucket_objects(s3_client, bucket) == {}

    # Without it, the same job service runs the job.
    ran = run_cli("--bucket", bucket, str(tree), *_EMBEDDED)
    assert ran.code == 0, ran.stderr
    assert bucket_objects(s3_client, bucket) == {"a.txt": b"a", "b/c.txt": b"c"}
