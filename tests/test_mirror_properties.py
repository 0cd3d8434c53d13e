"""The whole put/delete decision against the reference model (``tests/mirror_model.py``),
on generated trees, buckets and options: the command's pipeline (``UploadTree``) in a
TestPipeline against the in-memory fake S3, streamed or spread (Reshuffles).

Each example checks, after one run: nothing outside the prefix changed, no key that a
local file maps to was deleted, a dry run changed nothing, the bucket is the model's,
the summary counts are the model's; and that the same run again changes nothing.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from hypothesis import given, note, settings

from devsupport.fakes3 import SERVER, FakeTransport
from pipeline import UploadConfig, UploadTree
from pipeline.counters import METRICS_NAMESPACE
from pipeline.filters import FileFilter
from pipeline.options import CompareMode, PutMode
from pipeline.plan import DEFAULT_RUNNER
from pipeline.summary import Summary
from tests.conftest import FAKE_BUCKET, example_count
from tests.mirror_model import COUNTED, StoredObject, expected_run
from tests.mirror_properties import (
    Scenario,
    Snapshot,
    assert_as_modelled,
    assert_second_run_changed_nothing,
    scenarios,
    with_known_examples,
)

BUCKET = FAKE_BUCKET


def _run(scenario: Scenario, sources: list[str]) -> dict[str, int]:
    """One run of the command's pipeline; its counts that the model knows, from the Beam
    counters, as the command reads them."""
    command = scenario.command
    config = UploadConfig.for_bucket(
        BUCKET, "http://127.0.0.1:9", factory=FakeTransport, prefix=command.prefix,
        sources=tuple(sources), put=PutMode(command.put), compare=CompareMode(command.compare),
        delete=command.delete, max_delete=command.max_delete, dry_run=command.dry_run,
        file_filter=FileFilter.build(list(command.rules), command.older_than_days),
        checksum_cache=None,
    )  # fmt: skip
    p = TestPipeline(runner=DEFAULT_RUNNER)
    _ = p | UploadTree(config, None, spread=scenario.spread)
    result = p.run()
    result.wait_until_finish()
    found = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
    counters: dict[str, int] = defaultdict(int)
    for counter in found["counters"]:
        counters[counter.key.metric.name] += counter.committed
    summary = Summary.from_counters(counters, []).to_dict()
    return {name: summary[name] for name in COUNTED}


def _objects() -> dict[str, StoredObject]:
    return {key: StoredObject(o.data, o.mtime) for key, o in SERVER.buckets[BUCKET].items()}


def _snapshot() -> Snapshot:
    return {key: o.data for key, o in SERVER.buckets[BUCKET].items()}


@settings(max_examples=example_count(ci=40, thorough=1000))
@given(scenario=scenarios())
@with_known_examples
def test_a_run_does_what_the_model_says(scenario: Scenario) -> None:
    SERVER.reset()
    SERVER.create_bucket(BUCKET)
    now = time.time()
    files = scenario.local_files(now)
    for key, stored in scenario.bucket(now).items():
        SERVER.put_object(BUCKET, key, stored.data, stored.mtime)
    before = _snapshot()
    expected = expected_run(files, _objects(), scenario.command, now)
    note(f"model: uploads {sorted(expected.uploads)}, stale {sorted(expected.stale)}")
    with tempfile.TemporaryDirectory() as tmp:
        sources = scenario.write_sources(Path(tmp), now)

        counts = _run(scenario, sources)
        after = _snapshot()
        assert_as_modelled(scenario, before, after, expected)
        assert counts == expected.counts

        if not scenario.command.dry_run:  # a second dry run is the same run again
            again = time.time()
            rerun = expected_run(files, _objects(), scenario.command, again)
            counts = _run(scenario, sources)
            assert_second_run_changed_nothing(after, _snapshot())
            assert counts == rerun.counts, "the second run's counts"
