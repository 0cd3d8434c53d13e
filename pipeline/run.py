"""Running the pipeline: Beam options, a pinned offline runner, and the summary back."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from typing import Any

from pipeline.config import UploadConfig
from pipeline.errors import UsageError
from pipeline.results import Summary
from pipeline.source import Root

# Beam's default may pick the Prism runner and download it; this one runs offline.
DEFAULT_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def pipeline_options(beam_options: dict[str, Any]) -> Any:
    from apache_beam.options.pipeline_options import (
        PipelineOptions,
        SetupOptions,
        StandardOptions,
    )

    options = PipelineOptions.from_dictionary(beam_options)
    standard = options.view_as(StandardOptions)
    if not standard.runner:
        standard.runner = DEFAULT_RUNNER
    options.view_as(SetupOptions).save_main_session = False
    return options


_IN_PROCESS_RUNNERS = {"fnapirunner", "directrunner", "switchingdirectrunner"}


def needs_reshuffle(options: Any) -> bool:
    """False only for the in-process local runner with one worker (it streams instead)."""
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    runner = str(options.view_as(StandardOptions).runner).rsplit(".", 1)[-1].lower()
    workers = options.view_as(DirectOptions).direct_num_workers or 1
    return runner not in _IN_PROCESS_RUNNERS or workers > 1


def _summary_location(options: Any) -> tuple[str, str | None]:
    """Where the pipeline writes its summary: under --temp_location, else a local dir."""
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import GoogleCloudOptions

    remote = options.view_as(GoogleCloudOptions).temp_location
    name = f"s3-parallel-put-summary-{uuid.uuid4().hex}.json"
    if remote:
        return FileSystems.join(remote, name), None
    local_dir = tempfile.mkdtemp(prefix="s3pp-")
    return os.path.join(local_dir, name), local_dir


def run_pipeline(
    config: UploadConfig, roots: tuple[Root, ...], beam_options: dict[str, Any]
) -> Summary:
    """Build and run the pipeline; return the summary it wrote."""
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems

    from pipeline.graph import UploadTree

    options = pipeline_options(beam_options)
    summary_path, local_dir = _summary_location(options)
    try:
        with beam.Pipeline(options=options) as p:
            _ = p | "UploadTree" >> UploadTree(
                config, roots, summary_path, reshuffle=needs_reshuffle(options)
            )
        if not FileSystems.exists(summary_path):
            return Summary()  # no file at all: the combine had nothing to summarise
        try:
            with FileSystems.open(summary_path) as f:
                data = json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError) as e:
            raise UsageError(f"cannot read the run's summary at {summary_path}: {e}") from e
        if local_dir is None:
            FileSystems.delete([summary_path])
        return Summary.from_dict(data)
    finally:
        if local_dir is not None:
            for name in os.listdir(local_dir):
                os.unlink(os.path.join(local_dir, name))
            os.rmdir(local_dir)
