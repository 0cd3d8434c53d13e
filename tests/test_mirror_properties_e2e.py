"""The whole put/delete decision against the reference model (``tests/mirror_model.py``),
on generated trees, buckets and options: the real CLI against SeaweedFS, a fresh bucket
per example, seeded with boto3.

SeaweedFS stores a key with '\\' under the key with '/' instead: the model is told so
(a file with '\\' in its key fails, and nothing churns). The bucket the model starts
from is the one the server lists after seeding, with its own LastModified times.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, note, settings

from tests.conftest import example_count, fresh_bucket
from tests.mirror_model import COUNTED, StoredObject, expected_run
from tests.mirror_properties import (
    Scenario,
    Snapshot,
    assert_as_modelled,
    assert_second_run_changed_nothing,
    for_seaweedfs,
    scenarios,
    stored_as,
    with_known_examples,
)


def _objects(s3_client: Any, bucket: str) -> dict[str, StoredObject]:
    objects = {}
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            data = s3_client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            objects[obj["Key"]] = StoredObject(data, obj["LastModified"].timestamp())
    return objects


def _snapshot(s3_client: Any, bucket: str) -> Snapshot:
    return {key: stored.data for key, stored in _objects(s3_client, bucket).items()}


def _arguments(scenario: Scenario, bucket: str, sources: list[str]) -> list[str]:
    command = scenario.command
    args = ["--bucket", bucket, "--json", "--put", command.put, "--compare", command.compare]
    if command.prefix:
        args += ["--prefix", command.prefix]
    if command.delete:
        args.append("--delete")
    if command.max_delete is not None:
        args += ["--max-delete", str(command.max_delete)]
    if command.dry_run:
        args.append("--dry-run")
    for kind, pattern in command.rules:
        args += [f"--{kind}", pattern]
    if command.older_than_days is not None:
        args += ["--ignore-files-older-than-days", f"{command.older_than_days:g}"]
    if scenario.spread:
        args += ["--direct_num_workers", "2"]
    return [*args, *sources]


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    return {name: summary[name] for name in COUNTED}


# run_cli and s3_client hold no state between examples: each example has its own bucket
# and its own directory.
@settings(
    max_examples=example_count(ci=30, thorough=200),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios().map(for_seaweedfs))
@with_known_examples
def test_the_command_does_what_the_model_says(
    run_cli: Any, s3_client: Any, scenario: Scenario
) -> None:
    with fresh_bucket(s3_client) as bucket, tempfile.TemporaryDirectory() as tmp:
        now = time.time()
        files = scenario.local_files(now)
        for key, stored in scenario.bucket(now).items():
            s3_client.put_object(Bucket=bucket, Key=key, Body=stored.data)
        objects = _objects(s3_client, bucket)
        before = {key: stored.data for key, stored in objects.items()}
        expected = expected_run(files, objects, scenario.command, now, rewrites_backslash=True)
        note(f"model: uploads {sorted(expected.uploads)}, stale {sorted(expected.stale)}")
        sources = scenario.write_sources(Path(tmp), now)
        args = _arguments(scenario, bucket, sources)

        result = run_cli(*args)
        note(f"stderr: {result.stderr}")
        after = _snapshot(s3_client, bucket)
        assert_as_modelled(scenario, before, after, expected, rewrites_backslash=True)
        assert result.code == expected.exit_code, result.stderr
        assert _counts(result.summary) == expected.counts
        errors = [failure["key"] + " " + failure["error"] for failure in result.summary["failures"]]
        for key in expected.rewritten:
            assert any(key in e and stored_as(key) in e for e in errors), (
                f"no failure names both {key!r} and {stored_as(key)!r}: {errors}"
            )

        if not scenario.command.dry_run:  # a second dry run is the same run again
            objects = _objects(s3_client, bucket)
            rerun = expected_run(
                files, objects, scenario.command, time.time(), rewrites_backslash=True
            )
            again = run_cli(*args)
            assert_second_run_changed_nothing(after, _snapshot(s3_client, bucket))
            assert again.code == rerun.exit_code, again.stderr
            assert _counts(again.summary) == rerun.counts, "the second run's counts"
